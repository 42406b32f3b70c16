// Package bench holds fleare-manager's end-to-end benchmarks, each measured
// against a baseline in the same run; BENCHMARKS.md at the repository root
// says how to run them and what they showed.
//
//   - BenchmarkPing: PING throughput of the fleare pool, plain and
//     pipelined, at 1 to 256 callers over 8 connections, against 8
//     dedicated connections and a batched ceiling (one connection, 256
//     requests per write), with latency quantiles and CPU per request of
//     client and server; the server runs in a child process.
//   - BenchmarkManagedPing: PING throughput through a manager Client at
//     1 to 256 callers over 8 connections, against 8 dedicated connections,
//     the server in a child process.
//   - BenchmarkApply: applying 1,000 targets of 4 connections, against
//     dialing the same connections one after another.
//   - BenchmarkApplyScaling: how apply grows from 10 to 10,000 targets,
//     with the server in a child process.
//   - BenchmarkReapplyScaling: how applying a one-target change grows with
//     the targets running, against the diff alone.
//   - BenchmarkProxy: 1, 64 and 256 clients sending PING, SET/GET or
//     pipelined PINGs through the proxy, against the same clients
//     connected straight to the server; server and proxy in child
//     processes.
//
// The heap held per idle connection, and the CPU idle connections cost,
// are whole-process measures, taken by the program in ./heapconn:
//
//	go run ./bench/heapconn
//
// The package itself holds no code; its benchmarks are in the test files.
package bench
