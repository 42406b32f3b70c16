package admin

import (
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits of the API's HTTP serving: see NewHTTPServer and LimitListener.
const (
	// DefaultMaxConns bounds the connections one listener holds open at
	// once; further clients wait in the kernel's queue until one closes.
	DefaultMaxConns = 64
	// HeaderTimeout bounds the time a client takes to send a request's
	// headers.
	HeaderTimeout = 5 * time.Second
	// IdleTimeout closes a kept-alive connection after that long without
	// a request.
	IdleTimeout = 30 * time.Second
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 16 << 10
)

// NewHTTPServer returns an http.Server for h with the API's limits: the
// request headers within HeaderTimeout and MaxHeaderBytes, an idle
// connection closed after IdleTimeout; bodies are bounded by the Server
// itself (Options.MaxBodyBytes, DefaultBodyTimeout). No overall write
// timeout: event streams last. errorLog may be nil. Serve it on a listener
// wrapped by LimitListener.
func NewHTTPServer(h http.Handler, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: HeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          errorLog,
	}
}

// LimitListener returns ln accepting at most n connections open at a time
// (DefaultMaxConns when n <= 0): Accept waits while n are open, so a
// client opening connections without end holds at most n descriptors of
// the server's. Closing the listener ends a waiting Accept.
func LimitListener(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		n = DefaultMaxConns
	}
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	slots     chan struct{} // one token per open connection
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitConn gives its slot back when closed, once.
type limitConn struct {
	net.Conn
	release func()
	once    sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes the connection when the underlying one can, as
// net/http does before closing after an error.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
