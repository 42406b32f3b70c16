// Package childserver runs a fleartest server in a child process: the same
// binary, started again with an environment variable set. Benchmarks use it
// when the server must not share their process: to measure the client's
// heap alone, or to hold more connections than one process's file
// descriptor limit allows for both ends.
//
// The binary calls ServeIfChild first thing (in main, or in TestMain); the
// parent calls Start. The child prints its address, then serves until its
// standard input closes, answering "wait N" lines with "ok" once exactly N
// connections are authenticated.
//
//	func TestMain(m *testing.M) {
//		childserver.ServeIfChild()
//		os.Exit(m.Run())
//	}
//
//	srv, err := childserver.Start()
//	...
//	defer srv.Close()
//	c := fleare.NewClient(srv.Host, srv.Port, fleare.Options{})
package childserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

// envVar, set to "1", makes ServeIfChild serve.
const envVar = "FLEARE_BENCH_CHILD_SERVER"

// waitTimeout bounds a "wait N" request.
const waitTimeout = 2 * time.Minute

// ServeIfChild serves and exits when the process was started by Start; it
// returns at once otherwise.
func ServeIfChild() {
	if os.Getenv(envVar) != "1" {
		return
	}
	if err := serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "childserver:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serve runs a server on loopback, writes its address to out, and answers
// the commands read from in until it ends.
func serve(in io.Reader, out io.Writer) error {
	srv, err := fleartest.Start(fleartest.Options{})
	if err != nil {
		return err
	}
	defer srv.Close()
	if _, err := fmt.Fprintln(out, srv.Addr()); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "wait "))
		if err != nil {
			return fmt.Errorf("bad command %q", sc.Text())
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		err = srv.WaitConns(ctx, n)
		cancel()
		reply := "ok"
		if err != nil {
			reply = "error: " + err.Error()
		}
		if _, err := fmt.Fprintln(out, reply); err != nil {
			return err
		}
	}
	return sc.Err()
}

// Server is a fleartest server (without auth) running in a child process.
type Server struct {
	Host string
	Port int

	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// Start starts the child process and waits for its server to listen.
func Start() (*Server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("childserver: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envVar+"=1")
	if _, ok := os.LookupEnv("GORACE"); !ok {
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0") // a -race child exits at once
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("childserver: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("childserver: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("childserver: %w", err)
	}
	s := &Server{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	addr, err := s.out.ReadString('\n')
	if err == nil {
		err = s.parseAddr(strings.TrimSpace(addr))
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("childserver: reading the server's address: %w", err)
	}
	return s, nil
}

func (s *Server) parseAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	s.Host = host
	s.Port, err = strconv.Atoi(port)
	return err
}

// WaitConns waits until exactly n connections are authenticated on the
// server (at most two minutes).
func (s *Server) WaitConns(n int) error {
	if _, err := fmt.Fprintf(s.stdin, "wait %d\n", n); err != nil {
		return fmt.Errorf("childserver: %w", err)
	}
	reply, err := s.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("childserver: %w", err)
	}
	if reply = strings.TrimSpace(reply); reply != "ok" {
		return errors.New("childserver: " + reply)
	}
	return nil
}

// Pid returns the child process's id, for reading its CPU time.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Close stops the child process and waits for it to exit.
func (s *Server) Close() error {
	_ = s.stdin.Close()
	return s.cmd.Wait()
}
