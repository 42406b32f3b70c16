// Package fleartest runs an in-process Fleare server, for tests (think
// net/http/httptest, or miniredis for Redis) and for demos.
//
// The server answers the way the real Fleare server (v1.x) does, case for
// case of the recorded transcript in testdata (TestTranscript replays it):
// the first frame on a connection is the authentication request whatever
// its command, a failure is answered with the real texts (no trailing
// newline, no client id) and the connection closed; replies come in
// request order, pipelined requests included, and carry the connection's
// client id except "Ok" replies to SET, GET and DELETE; keys are 1 to 200
// bytes; GET with a path returns the JSON encoding of the value there;
// EXISTS counts in 8 signed bits; PING, STATUS, SESSION, SET, GET, DELETE,
// EXISTS, STR.SET, STR.GET, NUM.SET, NUM.GET, SUBSCRIBE, UNSUBSCRIBE and
// PUBLISH work on an in-memory keyspace; unknown commands and bad arguments
// get the real error texts; a frame that is not a command gets an "Error"
// reply and the connection stays; an invalid frame length closes it.
//
// It can also do the real server's harm, so that a test sees it:
//
//   - Strict: a connection arriving during another's handshake is
//     stranded, and the listener is wedged until Restart (Stranded, Wedged).
//   - SerialAccept: handshakes run on the accept loop with no timeout, so a
//     silent client blocks every other.
//   - CrashOnMissingKey: STR.GET or NUM.GET of a missing key kills the
//     server until Restart (Crashed).
//   - Overlaps records what the real server does not survive: handshakes
//     that overlap, client disconnects that come together, and disconnects
//     during a handshake.
//
// Hooks inject faults: SetLatency, RefuseNew, StallNew, FailAuth,
// DropNextAuths (auth cut short), SetUsers, CloseClientConnections,
// StrayAfterNextReply and WriteStray (a frame no request asked for, counted
// by RequestsAfterStray), and Stop and Restart on the same address. Conns,
// Requests and Accepted report what happened; WaitConns and Wait wait for a
// condition instead of sleeping.
//
// Usage in a test:
//
//	srv := fleartest.NewServer(t, fleartest.Options{Users: map[string]string{"root": "pw"}, Strict: true})
//	c := fleare.NewClient(srv.Host(), srv.Port(), fleare.Options{Username: "root", Password: "pw", PoolSize: 4})
//	if err := c.Connect(ctx); err != nil {
//		t.Fatal(err)
//	}
//	defer c.Close(ctx)
//	if err := srv.WaitConns(ctx, 4); err != nil {
//		t.Fatal(err)
//	}
//	if srv.Stranded() != 0 || srv.Overlaps() != (fleartest.Overlaps{}) {
//		t.Fatal("the client would have harmed the real server")
//	}
//
// Outside tests, Start returns a running server and Close stops it.
package fleartest
