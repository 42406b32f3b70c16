package spec

import (
	"strconv"
	"strings"
)

// kind is the type of value a key takes.
type kind uint8

const (
	kindString   kind = iota // host, username
	kindSecret               // password: a string never echoed in errors
	kindPath                 // password_file: a string naming a file
	kindInt                  // an integer within [min, max]
	kindDuration             // a Go duration, at least min nanoseconds
	kindMap                  // a nested mapping of children
	kindUsers                // listen.users: a list of app logins
)

// slot indexes one setting in a layer.
type slot uint8

const (
	slotHost slot = iota
	slotPort
	slotUsername
	slotPassword
	slotPasswordFile
	slotPoolSize
	slotMaxQueue
	slotPipeline
	slotConnect
	slotRequest
	slotDrain
	slotMaxRetries
	slotInterval
	slotHealthCheck
	slotMaxLifetime
	slotLifetimeJitter
	slotListenAddress
	slotListenUsers
	slotListenMaxClients
	slotListenAuthTimeout
	slotListenReadTimeout
	slotListenWriteTimeout
	slotListenMaxPipeline
	slotListenClientBuffer
	// slotListen records where a listen section was written; no field
	// fills it.
	slotListen
	numSlots
)

// field describes one key of a target (or of defaults), in the single table
// that the parser walks, Marshal, the JSON form and Keys render, and the
// schema test compares with schema.json.
type field struct {
	key        string
	kind       kind
	slot       slot    // where a leaf is stored in a layer; unused for maps
	min, max   int64   // bounds of an int; min of a duration (0 or 1 ns)
	def        int64   // built-in default of an int, or of a duration in ns; strings have none
	hint       string  // added to range errors
	targetOnly bool    // not allowed in defaults
	children   []field // keys of a map
	// ref returns the field of t that a leaf fills: a *string, *Secret,
	// *int or *time.Duration.
	ref func(t *Target) any
}

// maxFields bounds the number of keys of one map in the tables below.
const maxFields = 16

// targetFields is every key a target accepts, in the file's order. defaults
// accepts the same keys except those marked targetOnly. Each default is one
// of the Default* constants, which take fleare's where the pool has one.
var targetFields = []field{
	{key: "host", kind: kindString, slot: slotHost, targetOnly: true,
		ref: func(t *Target) any { return &t.Host }},
	{key: "port", kind: kindInt, slot: slotPort, min: MinPort, max: MaxPort, def: DefaultPort,
		ref: func(t *Target) any { return &t.Port }},
	{key: "username", kind: kindString, slot: slotUsername,
		ref: func(t *Target) any { return &t.Username }},
	{key: "password", kind: kindSecret, slot: slotPassword,
		ref: func(t *Target) any { return &t.Password }},
	{key: "password_file", kind: kindPath, slot: slotPasswordFile,
		ref: func(t *Target) any { return &t.PasswordFile }},
	{key: "pool", kind: kindMap, children: []field{
		{key: "size", kind: kindInt, slot: slotPoolSize, min: MinPoolSize, max: MaxPoolSize, def: DefaultPoolSize,
			ref: func(t *Target) any { return &t.Pool.Size }},
		{key: "max_queue", kind: kindInt, slot: slotMaxQueue, min: 0, max: MaxMaxQueue, def: DefaultMaxQueue,
			hint: "; 0 means callers never wait", ref: func(t *Target) any { return &t.Pool.MaxQueue }},
		{key: "pipeline", kind: kindInt, slot: slotPipeline, min: 0, max: MaxPipeline, def: DefaultPipeline,
			hint: "; 0 or 1 sends one request at a time", ref: func(t *Target) any { return &t.Pool.Pipeline }},
		// Pool maintenance: how often idle connections are checked, and
		// how long a connection lives before it is replaced.
		{key: "health_check_interval", kind: kindDuration, slot: slotHealthCheck, min: 1, def: int64(DefaultHealthCheckInterval),
			ref: func(t *Target) any { return &t.Pool.HealthCheckInterval }},
		{key: "max_lifetime", kind: kindDuration, slot: slotMaxLifetime, min: 0, def: 0,
			hint: "; 0 means connections live until they break", ref: func(t *Target) any { return &t.Pool.MaxLifetime }},
		{key: "lifetime_jitter", kind: kindDuration, slot: slotLifetimeJitter, min: 0, def: 0,
			ref: func(t *Target) any { return &t.Pool.LifetimeJitter }},
	}},
	{key: "timeouts", kind: kindMap, children: []field{
		{key: "connect", kind: kindDuration, slot: slotConnect, min: 1, def: int64(DefaultConnectTimeout),
			ref: func(t *Target) any { return &t.Timeouts.Connect }},
		{key: "request", kind: kindDuration, slot: slotRequest, min: 1, def: int64(DefaultRequestTimeout),
			ref: func(t *Target) any { return &t.Timeouts.Request }},
		{key: "drain", kind: kindDuration, slot: slotDrain, min: 0, def: int64(DefaultDrainTimeout),
			ref: func(t *Target) any { return &t.Timeouts.Drain }},
	}},
	{key: "retry", kind: kindMap, children: []field{
		{key: "max_retries", kind: kindInt, slot: slotMaxRetries, min: 0, max: MaxMaxRetries, def: DefaultMaxRetries,
			ref: func(t *Target) any { return &t.Retry.MaxRetries }},
		{key: "interval", kind: kindDuration, slot: slotInterval, min: 1, def: int64(DefaultRetryInterval),
			ref: func(t *Target) any { return &t.Retry.Interval }},
	}},
	listenField,
}

// eachLeaf calls fn for every leaf of fields, in table order, with its path
// ("pool.size") built on prefix.
func eachLeaf(fields []field, prefix string, fn func(f *field, path string)) {
	for i := range fields {
		f := &fields[i]
		if f.kind == kindMap {
			eachLeaf(f.children, prefix+f.key+".", fn)
			continue
		}
		fn(f, prefix+f.key)
	}
}

// topKeys is every key the top level of a file accepts.
var topKeys = []string{"version", "defaults", "targets"}

// aliases maps the names other Fleare configurations use (the official
// clients' camelCase options, common misspellings) to the path of our key,
// for "did you mean" hints. Keys are normalised by normKey.
var aliases = map[string]string{
	"poolsize":       "pool.size",
	"size":           "pool.size",
	"connections":    "pool.size",
	"maxqueue":       "pool.max_queue",
	"maxqueuesize":   "pool.max_queue",
	"queuesize":      "pool.max_queue",
	"pipelining":     "pool.pipeline",
	"connecttimeout": "timeouts.connect",
	"dialtimeout":    "timeouts.connect",
	"requesttimeout": "timeouts.request",
	"timeout":        "timeouts.request",
	"draintimeout":   "timeouts.drain",
	"drain":          "timeouts.drain",
	"maxretries":     "retry.max_retries",
	"retries":        "retry.max_retries",
	"retryinterval":  "retry.interval",
	"interval":       "retry.interval",
	"user":           "username",
	"pass":           "password",
	"passwd":         "password",
	"pwd":            "password",
	"passwordfile":   "password_file",
	"passfile":       "password_file",
	"hostname":       "host",
	"address":        "host",
	"addr":           "host",
	"server":         "host",

	// Pool maintenance, with pgxpool's names.
	"healthcheckinterval":   "pool.health_check_interval",
	"healthcheckperiod":     "pool.health_check_interval",
	"healthcheck":           "pool.health_check_interval",
	"maxlifetime":           "pool.max_lifetime",
	"maxconnlifetime":       "pool.max_lifetime",
	"lifetime":              "pool.max_lifetime",
	"lifetimejitter":        "pool.lifetime_jitter",
	"maxconnlifetimejitter": "pool.lifetime_jitter",
}

// normKey lower-cases k and drops '_' and '-', so that poolSize, pool_size
// and pool-size compare equal.
func normKey(k string) string {
	var b strings.Builder
	b.Grow(len(k))
	for i := range len(k) {
		c := k[i]
		switch {
		case c == '_' || c == '-':
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// suggest returns a "did you mean" hint for an unknown key found in a map
// whose keys are fields, under the key parent ("" for a target's top, "pool"
// in its pool), or "" when nothing is close.
func suggest(key string, fields []field, parent string, inDefaults bool) string {
	prefix := ""
	if parent != "" {
		prefix = parent + "."
	}
	if p, ok := aliases[normKey(key)]; ok && !(inDefaults && p == "host") {
		if rel, ok := strings.CutPrefix(p, prefix); ok {
			if parent, child, nested := strings.Cut(rel, "."); nested {
				return "did you mean " + strconv.Quote(child) + " under " + strconv.Quote(parent) + "?"
			}
			return "did you mean " + strconv.Quote(rel) + "?"
		}
		if parent, child, nested := strings.Cut(p, "."); nested && prefix != "" {
			return "did you mean " + strconv.Quote(child) + " under " + strconv.Quote(parent) + "?"
		}
	}
	best, bestDist := "", 3
	for _, f := range fields {
		if inDefaults && f.targetOnly {
			continue
		}
		if d := editDistance(normKey(key), normKey(f.key)); d < bestDist && d <= max(1, len(f.key)/3) {
			best, bestDist = f.key, d
		}
	}
	if best == "" {
		return ""
	}
	return "did you mean " + strconv.Quote(best) + "?"
}

// suggestTop is suggest for the top level of a file.
func suggestTop(key string) string {
	for _, k := range topKeys {
		if d := editDistance(normKey(key), k); d <= 2 {
			return "did you mean " + strconv.Quote(k) + "?"
		}
	}
	if _, ok := aliases[normKey(key)]; ok || fieldIndex(targetFields, key) >= 0 {
		return "target settings go under a target in targets, or under defaults"
	}
	return ""
}

// allowedKeys lists the keys of fields, for error messages.
func allowedKeys(fields []field, inDefaults bool) string {
	var b strings.Builder
	for _, f := range fields {
		if inDefaults && f.targetOnly {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.key)
	}
	return b.String()
}

// fieldIndex returns the index of the field named key, or -1.
func fieldIndex(fields []field, key string) int {
	for i := range fields {
		if fields[i].key == key {
			return i
		}
	}
	return -1
}

// editDistance is the optimal string alignment distance between a and b, in
// bytes: insertions, deletions, substitutions and transpositions of adjacent
// bytes each cost 1, so "prot" is one edit from "port".
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b))
	}
	// rows[i%3] holds row i of the dynamic-programming table.
	var rows [3][65]int
	for j := range len(b) + 1 {
		rows[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur, prev, prev2 := &rows[i%3], &rows[(i-1)%3], &rows[(i+1)%3]
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
	}
	return rows[len(a)%3][len(b)]
}
