// Package proxy serves the Fleare protocol to applications and carries
// their requests to a backend (a connection pool): the front door that lets
// apps keep their unchanged Fleare clients while the connections to the
// server are opened, resized, swapped and repaired safely behind it, as
// PgBouncer does for PostgreSQL.
//
// # Usage
//
//	pool := fleare.NewClient("10.0.0.5", 9219, fleare.Options{PoolSize: 8, Pipeline: 32, Username: "pool", Password: pw})
//	if err := pool.Connect(ctx); err != nil {
//		return err
//	}
//	p, err := proxy.New(pool, proxy.Options{
//		Users:       []proxy.User{{Username: "web", Password: webPassword}},
//		MaxClients:  2000,
//		AuthTimeout: 2 * time.Second,
//		MaxInFlight: 8*32 + 1024, // what the pool takes without refusing
//		Dial: func(ctx context.Context) (*fleare.Conn, error) { // pub/sub
//			return fleare.Dial(ctx, "10.0.0.5", 9219, fleare.Options{Username: "pool", Password: pw})
//		},
//		OnEvent: func(e proxy.Event) { log.Print(e) },
//	})
//	if err != nil {
//		return err
//	}
//	l, err := p.Listen("127.0.0.1:7219")
//	if err != nil {
//		return err
//	}
//	log.Printf("apps connect to %s", l.Addr())
//	...
//	err = p.Shutdown(drainCtx) // stop listening, answer what is in flight, close
//
// A manager target's *manager.Client is a Backend too: it follows the
// target across resizes, endpoint swaps and credential changes, so the
// apps' connections to the proxy never notice a reload. After a change of
// the target's address or credentials, call ReconnectSubscribers so that
// subscribers' dedicated connections follow (Dial should read the target
// in force). A changed listen address is make-before-break: Listen on the
// new address, then Close the old Listener; clients belong to the Proxy,
// not to the Listener that accepted them. Update changes the options live
// (new users apply to the next login).
//
// # On the wire
//
// A client's first frame is its login, whatever its command, as on the
// real server: the proxy checks it against its own Users and answers "Ok"
// "Connected" with a client id of the real server's form
// ("<n>-<ip>:<port>", n counting the proxy's clients), or with the real
// server's failure text (wrong password, missing credentials, wrong
// argument count, undecodable or zero-length frame), then closes the
// connection. No backend connection is involved: any number of clients
// may connect at once.
//
// Each request then goes to the backend and its reply comes back to that
// client in order, so clients may pipeline. Replies are the server's, with
// the client's own id where the server's carried its pooled connection's
// (and none where it carried none, as on SET, GET and DELETE). A client's
// requests take effect in the order it sent them: a request that may change
// something (anything but GET, PING, EXISTS, STATUS and SESSION) waits for
// the client's earlier requests to complete, and later ones wait for it;
// consecutive read-only requests run at the same time. Read-only requests
// that arrive together (a client pipelining) go to the backend as one
// batch when it is a BatchBackend (fleare.Client and manager.Client are):
// the pool sends them in one write on one connection, or on the free slots
// of one, instead of one pool call each. SESSION describes
// the client's own login (its id, user name and login time; the role is
// the server's).
//
// The proxy answers some requests itself, like the real server would:
// an undecodable frame ("invalid command format: ..."), an empty command
// name (InvalidCommandError). Where the real server would fail or die, the
// proxy answers with an "Error" beginning "ProxyError: " and the
// connection stays open: a request the backend failed (no connection,
// timeout), and STR.GET and NUM.GET, which are refused because the real
// server crashes on them when the key is missing. AUTH after the login is
// refused too: the server never sees an app's credentials, and the pooled
// connections other apps share keep the manager's login.
//
// # Pub/sub
//
// SUBSCRIBE and UNSUBSCRIBE get no reply, as on the real server. A client
// that subscribes gets a backend connection of its own, opened with
// Options.Dial, on which the proxy sends only its subscription changes,
// each followed by a PING whose reply shows the change is in force before
// the client's next request is read (so a PUBLISH sent after SUBSCRIBE
// reaches the subscriber, as on one connection to the server). Pushes read
// on it are relayed to the client, with its client id, between the replies
// to its other requests, which keep going through the backend. The
// connection is closed when the client unsubscribes from every channel
// (UNSUBSCRIBE without a channel leaves them all) or leaves; one that
// fails is opened again with backoff and subscribed again (pushes
// published while it is down are lost). ReconnectSubscribers opens and
// subscribes the new connection before the old one unsubscribes and
// relays what it received, so a move loses no push; one published while
// both were subscribed to the same server may arrive twice.
//
// # Protecting the server
//
// Nothing reaches the server but well-formed commands sent through the
// backend: a zero-length frame, or a length over 10 MiB, closes the
// client's connection without an answer (the real server's reaction),
// and is never forwarded; the commands that crash the server are
// refused; at most MaxInFlight requests of all clients are in flight to
// the backend at once, the others waiting in the proxy. Pub/sub
// connections are opened with Options.Dial, which should use fleare.Dial:
// connections to one server are then opened one after another.
//
// # Limits, and memory per client
//
// MaxClients bounds the connections open at once (one more is read its
// login, answered with the limit and closed). A client must send its login
// within AuthTimeout, and a request frame, once begun, must arrive whole
// within ReadTimeout; a logged-in client may otherwise stay idle forever.
// A client that leaves its replies unread is not read any more once
// MaxPipeline requests or ClientBuffer bytes (of requests in flight and
// replies not yet written) are waiting for it, and is dropped when its
// socket takes no byte for WriteTimeout. It never holds up the backend:
// its replies are taken off the pooled connections as they come.
//
// What one client costs, at most:
//   - two goroutines (reader and writer), a worker per request in flight
//     (at most MaxPipeline; workers are shared by all clients and kept
//     2 s after their last request; a batch takes one), and two more while
//     it is subscribed;
//     a request that arrives alone, when every earlier reply is written,
//     takes no worker: the reader sends it and writes its reply itself;
//   - a 4 KiB read buffer, and the frame being read: up to 10 MiB, but
//     allocated as its bytes arrive and dropped after use above 64 KiB;
//   - a write buffer of up to 64 KiB plus one reply, dropped after use
//     above 64 KiB, and another as large for the replies the reader
//     writes itself;
//   - its requests in flight and replies not yet written: no new request
//     is read once they pass ClientBuffer (1 MiB by default), so at most
//     ClientBuffer plus one request frame, plus the replies to the
//     requests in flight at that point (fewer than MaxPipeline, each as
//     large as the value it reads).
//
// An idle logged-in client costs about 14 KiB of heap and stack
// (BenchmarkIdleClient).
//
// # Draining
//
// Shutdown stops every listener, closes clients that have not logged in,
// stops reading the others, lets their requests in flight be answered and
// closes each once its replies are written; when its context ends first,
// the rest are closed at once and their backend requests canceled. Close
// does the same without waiting.
//
// # Seen and measured
//
// Stats gives the clients connected, subscribers and listeners, and
// counts of connections accepted, requests, errors the proxy answered
// itself (backend failures among them, also counted apart), refused logins, MaxClients hits and clients
// dropped by each limit. Options.OnEvent receives client-limit hits,
// refused logins and clients dropped by a limit; no event holds a
// password.
package proxy
