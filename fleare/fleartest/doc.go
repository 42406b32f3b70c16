// Package fleartest runs an in-process Fleare server, for tests (think
// net/http/httptest, or miniredis for Redis) and for demos.
//
// The server speaks the protocol the way the real Fleare server does: the
// first frame on a connection is the authentication request whatever its
// command; a failed authentication is answered with an "Error" reply and the
// connection closed; replies come in request order, pipelined requests
// included; PING, STATUS, SESSION, GET, SET, DELETE and EXISTS work on an
// in-memory keyspace; command names are case-insensitive; unknown commands
// and bad arguments get the real server's error texts; a frame that is not a
// valid command gets an "Error" reply and the connection stays open; an
// invalid frame length closes the connection.
//
// Hooks let a test inject the real server's sharp edges and faults:
// SerialAccept (handshakes one at a time on the accept loop, no timeout),
// Strict (connections arriving during a handshake are stranded), SetLatency,
// RefuseNew, StallNew, FailAuth, SetUsers, CloseClientConnections, and Stop
// and Restart on the same address. Conns, Requests, Accepted and Stranded
// report what happened; WaitConns and Wait wait for a condition instead of
// sleeping.
//
// Usage in a test:
//
//	srv := fleartest.NewServer(t, fleartest.Options{Users: map[string]string{"root": "pw"}})
//	c := fleare.NewClient(srv.Host(), srv.Port(), fleare.Options{Username: "root", Password: "pw", PoolSize: 4})
//	if err := c.Connect(ctx); err != nil {
//		t.Fatal(err)
//	}
//	defer c.Close(ctx)
//	if err := srv.WaitConns(ctx, 4); err != nil {
//		t.Fatal(err)
//	}
//
// Outside tests, Start returns a running server and Close stops it.
package fleartest
