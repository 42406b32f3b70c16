package testkit

import (
	"bufio"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// rawTimeout bounds each read and write of a Raw connection.
const rawTimeout = 20 * time.Second

// Raw is a bare Fleare protocol connection driven frame by frame, as an
// app written in another language would: tests use it to see exactly what
// a server or the proxy sends back.
type Raw struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

// DialRaw connects to addr; the connection is closed when the test ends.
func DialRaw(t testing.TB, addr string) *Raw {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &Raw{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// RawLogin connects to addr and logs in, failing the test unless the login
// is answered Ok/Connected.
func RawLogin(t testing.TB, addr, user, pass string) *Raw {
	t.Helper()
	r := DialRaw(t, addr)
	if resp := r.Call("auth", user, pass); resp.GetStatus() != "Ok" || string(resp.GetResult()) != "Connected" {
		t.Fatalf("login: %v", resp)
	}
	return r
}

// Frame encodes one command as a length-prefixed frame.
func Frame(t testing.TB, command string, args ...string) []byte {
	t.Helper()
	b, err := wire.AppendFrame(nil, &wire.Command{Command: command, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Write sends b as it is (several frames, a partial one, garbage).
func (r *Raw) Write(b []byte) {
	r.t.Helper()
	_ = r.nc.SetWriteDeadline(time.Now().Add(rawTimeout))
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

// Send sends one command.
func (r *Raw) Send(command string, args ...string) {
	r.t.Helper()
	r.Write(Frame(r.t, command, args...))
}

// Recv reads the next frame, push or reply.
func (r *Raw) Recv() (*wire.Response, error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(rawTimeout))
	body, err := wire.ReadFrame(r.br, nil)
	if err != nil {
		return nil, err
	}
	var resp wire.Response
	if err := proto.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Next returns the next reply, skipping pushes.
func (r *Raw) Next() *wire.Response {
	r.t.Helper()
	for {
		resp, err := r.Recv()
		if err != nil {
			r.t.Fatalf("reading a reply: %v", err)
		}
		if resp.GetTopic() == "" {
			return resp
		}
	}
}

// Call sends one command and reads the frame that follows.
func (r *Raw) Call(command string, args ...string) *wire.Response {
	r.t.Helper()
	r.Send(command, args...)
	resp, err := r.Recv()
	if err != nil {
		r.t.Fatalf("%s: %v", command, err)
	}
	return resp
}

// ExpectClosed checks that the peer closes the connection with nothing
// more to read.
func (r *Raw) ExpectClosed() {
	r.t.Helper()
	resp, err := r.Recv()
	switch {
	case err == nil:
		r.t.Fatalf("connection still open: got %v", resp)
	case errors.Is(err, os.ErrDeadlineExceeded):
		r.t.Fatal("connection not closed")
	}
}

// Conn is the underlying connection, for tests that half-close it or set
// their own deadlines.
func (r *Raw) Conn() net.Conn { return r.nc }

// Reader is the buffered reader frames are read from, for tests that read
// replies byte by byte.
func (r *Raw) Reader() *bufio.Reader { return r.br }
