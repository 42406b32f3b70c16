// Package reliability holds fleare-manager's reliability and security
// suite: faults injected under load, a soak of a thousand reloads, checks
// for leaked goroutines and file descriptors, and a scan of every output for
// a known password. It has no code of its own; RELIABILITY.md at the
// repository root lists each fault, what happens, and the test that shows
// it.
//
// Run it alone with
//
//	go test -race ./reliability
package reliability
