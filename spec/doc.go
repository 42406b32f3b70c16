// Package spec holds fleare-manager's configuration: the YAML file format,
// its strict parsing and validation, and the resolved desired state it
// produces.
//
// A Config is a plain value. Its Targets are sorted by name and every field
// has had its default applied, so code downstream never looks at defaults.
// Credentials are held in a Secret, which prints as a mask.
//
// # The file
//
//	# yaml-language-server: $schema=schema.json
//	version: 1
//	defaults:                 # every target key but host; each overridable
//	  username: app
//	  password: ${FLEARE_PASSWORD}
//	  pool: {size: 4}
//	targets:
//	  cache-primary:
//	    host: 10.0.0.5
//	    pool: {size: 8}       # merges with defaults: max_queue still applies
//	    timeouts: {connect: 5s, request: 2s}
//	  sessions:
//	    host: sessions.internal
//	    password_file: secrets/sessions   # replaces the default password
//
// A target's settings come from the target, else from defaults, else from
// the built-in Default* constants; nested maps (pool, timeouts, retry) merge
// key by key. Credentials are the exception: a target that sets password or
// password_file takes both from itself. Setting both in one place is an
// error, and so is a password without a username once merged. targets: {}
// is a valid configuration with no targets; a file without a targets key is
// an error.
//
// Every scalar value may reference environment variables: ${NAME},
// ${NAME:-default} (default used when NAME is unset or empty) and $$ for a
// literal $. Any other $ is an error, as is an unset variable without a
// default. Expansion happens after YAML parsing and before type conversion,
// so port: ${PORT} works and a value cannot inject YAML. Keys, and so target
// names, are never expanded.
//
// Durations use Go syntax (30s, 1m30s, 250ms); a bare number is rejected
// with a hint, since the official clients' options are in milliseconds.
// Values outside their bounds are rejected, never clamped. YAML aliases and
// merge keys are not supported: put shared settings under defaults.
//
// A relative password_file is resolved against the configuration file's
// directory. Parse checks that it is readable and not empty, but the Target
// keeps only the path: Target.ResolvePassword reads the file at every
// connect, so a rotated secret is used without a reload.
//
// # Listen
//
// A target's listen section makes the manager's proxy serve the Fleare
// protocol to applications for that target:
//
//	listen:
//	  address: 127.0.0.1:7219       # required in the section; port 0: a free one
//	  users:                        # at least one; names unique
//	    - {username: web, password_file: secrets/web.txt}
//	    - {username: worker, password: ${WORKER_PASSWORD}}
//	  max_clients: 2000             # and auth_timeout, read_timeout,
//	                                # write_timeout, max_pipeline, client_buffer
//
// Every key but address may be set under defaults.listen; a target without
// a listen section of its own has none (Target.Listen is zero), whatever
// defaults says. Two targets may not listen on one address, however it is
// written: no host, 0.0.0.0 and :: take every interface; localhost (and
// names under .localhost) stands for 127.0.0.1 and ::1; other names are
// compared without case, never looked up. An app user's
// password_file is checked at parse time like the target's and read again
// at every login (User.ResolvePassword), so a changed file applies to the
// next login. The users are one comparable value (Users), so that Target
// stays comparable, and print with their passwords masked.
// Listen.ProxyOptions translates the section to proxy.Options.
//
// # Errors
//
// Parse reports every problem in a file at once, each as an *Error whose
// text reads file:line:col: target "name": field: what is wrong (what is
// allowed):
//
//	cfg, err := spec.Load("/etc/fleare-manager/config.yaml")
//	if err != nil {
//		for _, e := range spec.Errors(err) {
//			log.Printf("%s:%d: %s", e.File, e.Line, e.Msg)
//		}
//		return err
//	}
//	for _, t := range cfg.Targets {
//		fmt.Println(t.Name, t.Addr())
//	}
//
// No error, String, fmt verb, JSON or YAML rendering of these types shows a
// password; Marshal renders a Config back to the file format with each
// password masked. An error never quotes a value that came from a variable:
// it names the reference as written (the value of "${PORT}" is out of
// range), since the environment may hold secrets; nor a password file's
// content.
//
// At most MaxProblems (100) problems are listed, the first by position; an
// *Omitted at the end of the list counts the others (Count gives the
// total). Target names and keys are quoted at most 64 bytes long. A file
// holds at most MaxTargets (10,000) targets. Integers are decimal: leading
// zeros are read as decimal (010 is ten, as YAML 1.2 reads it), and 0x,
// 0o and 0b prefixes are refused. YAML syntax errors carry the line and
// column of the construct at fault; invalid UTF-8 and control characters
// are reported where they are.
//
// # Trust
//
// The zero Parser trusts the file it reads, like the file the manager
// watches. A configuration from elsewhere (the admin API) is parsed with
// Parser.AllowVar, which limits the variables ${NAME} may read, and
// Parser.SecretDirs, which limits where a password_file may be; such files
// are read with safefile: regular files only, bounded, never blocking.
//
// The file format is also described by schema.json at the repository root
// (JSON Schema draft-07), for editors through yaml-language-server.
//
// # From a target to its pool
//
// Target.PoolOptions is the one translation from a target to the options of
// its connection pool (fleare.Options); the manager, flearectl check and the
// proxy build their pools with it. Keys lists every setting of a target, for
// code that must treat them all without naming them.
//
// # Adding a configuration key
//
// Every fact about a key has one place; the tests named below fail until
// each is written.
//
//  1. types.go: the field in Target (or Pool, Timeouts, Retry), with a doc
//     comment stating its default and bounds; its Default* constant (fleare's,
//     when the pool has one) and its bounds.
//  2. fields.go: a slot and a row in targetFields (key, kind, bounds,
//     default, ref). Parsing, defaults, Marshal, the JSON form and Keys
//     follow from the row (TestFieldTableCoversTarget).
//  3. pooloptions.go: translate it in PoolOptions, or, for a key the pool
//     does not take, list it in notPoolOptions in pooloptions_test.go with
//     where it goes (TestEveryKeyReachesThePool).
//  4. reconcile/fields.go: whether a change applies in place, resizes or
//     replaces the pool, in effects (TestEffectsCoverEveryKey); in place only
//     if fleare.Client.Update takes it. Add its case to TestDiffEveryField
//     and its line to the table in reconcile/doc.go.
//  5. schema.json: the property, with title, description, default and
//     bounds (TestSchemaMatchesParser).
//  6. README.md: the table of what a change does. Then rewrite the golden
//     files: go test ./spec ./reconcile -update.
package spec
