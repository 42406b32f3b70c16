/*
Flearectl runs fleare-manager and drives it.

	flearectl demo                     # hot reload with two in-process servers
	flearectl serve -f fleare.yaml     # run the manager and its admin API (the file wins)
	flearectl serve                    # no file: configurations come from apply alone
	flearectl apply -f fleare.yaml     # send a new configuration: plan, then outcomes
	flearectl apply -f - --force       # from stdin, over a watched file (until its next change)
	flearectl diff -f fleare.yaml      # the plan only: exit 0 no change, 1 changes, 2 error
	flearectl status [NAME...] [-o table|json|yaml] [--watch] [--check]
	flearectl wait [NAME...] --for=connected|ready [--timeout 30s]
	flearectl events [--follow] [-o json]
	flearectl pause NAME... [--timeout 30s]      # hold new requests (server restart)
	flearectl resume NAME...                     # let them go on
	flearectl reconnect NAME... [--timeout 30s]  # replace every connection, gracefully
	flearectl config                   # the configuration in force, passwords masked
	flearectl validate FILE|DIR...     # offline: every problem as file:line:col
	flearectl check -f FILE            # offline: dial, auth, PING, STATUS each target
	flearectl version
	flearectl completion bash|zsh|fish|powershell

apply, diff, status, wait, events, config, pause, resume and reconnect reach a running serve through its
admin API: the unix socket $XDG_RUNTIME_DIR/fleare-manager.sock by default
(--socket), or a loopback TCP address with a bearer token (--admin-addr,
--token-file or $FLEARECTL_TOKEN).

Exit codes: 0 success; 1 the answer is no (a target failed, a file is
invalid, diff found changes); 2 the command could not run (usage, the
manager unreachable, an API error). Every command's --help has examples.
*/
package main
