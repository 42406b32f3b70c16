package fleare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Ping sends PING and checks that the server answers PONG. It is the health
// check.
func (c *Client) Ping(ctx context.Context) error {
	res, err := c.Do(ctx, "PING")
	return checkPong(c.addr, res, err)
}

// Ping sends PING on the connection and checks that the server answers
// PONG.
func (c *Conn) Ping(ctx context.Context) error {
	res, err := c.Do(ctx, "PING")
	return checkPong(c.addr, res, err)
}

func checkPong(addr string, res []byte, err error) error {
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(res, []byte("PONG")) {
		return fmt.Errorf("fleare: PING %s: unexpected reply %.40q", addr, res)
	}
	return nil
}

// ServerStatus is the server's answer to STATUS.
type ServerStatus struct {
	// ServerStatus is "running" on a live server.
	ServerStatus string `json:"server_status"`
	// UpTime is the server's clock when it answered (despite its name, not
	// the start time).
	UpTime time.Time `json:"up_time"`
	// ShardCount is the number of shards the server reported.
	ShardCount int `json:"shard_count"`
	// Shards holds one entry per shard, sorted by ID.
	Shards []ShardInfo `json:"shards"`
}

// ShardInfo describes one shard of the server's keyspace.
type ShardInfo struct {
	ID          string `json:"ID"`
	Name        string `json:"name"`
	HostAddress string `json:"host_address"`
	KeyLength   int64  `json:"key_length"`
	// TotalSize is the server's text, such as "8 bytes".
	TotalSize string `json:"total_size"`
}

// Status sends STATUS and parses the reply.
func (c *Client) Status(ctx context.Context) (ServerStatus, error) {
	res, err := c.Do(ctx, "STATUS")
	if err != nil {
		return ServerStatus{}, err
	}
	return parseStatus(res)
}

// Status sends STATUS on the connection and parses the reply.
func (c *Conn) Status(ctx context.Context) (ServerStatus, error) {
	res, err := c.Do(ctx, "STATUS")
	if err != nil {
		return ServerStatus{}, err
	}
	return parseStatus(res)
}

func parseStatus(res []byte) (ServerStatus, error) {
	var raw struct {
		ServerStatus string                     `json:"server_status"`
		UpTime       time.Time                  `json:"up_time"`
		ShardInfo    map[string]json.RawMessage `json:"shard_info"`
	}
	if err := json.Unmarshal(res, &raw); err != nil {
		return ServerStatus{}, fmt.Errorf("fleare: STATUS: unexpected reply: %w", err)
	}
	st := ServerStatus{ServerStatus: raw.ServerStatus, UpTime: raw.UpTime}
	for key, v := range raw.ShardInfo {
		if key == "shard_count" {
			if err := json.Unmarshal(v, &st.ShardCount); err != nil {
				return ServerStatus{}, fmt.Errorf("fleare: STATUS: shard_count: %w", err)
			}
			continue
		}
		var sh ShardInfo
		if err := json.Unmarshal(v, &sh); err != nil {
			return ServerStatus{}, fmt.Errorf("fleare: STATUS: shard %q: %w", key, err)
		}
		if sh.ID == "" {
			sh.ID = key
		}
		st.Shards = append(st.Shards, sh)
	}
	sort.Slice(st.Shards, func(i, j int) bool { return shardLess(st.Shards[i].ID, st.Shards[j].ID) })
	return st, nil
}

// shardLess orders shard IDs numerically when they are numbers.
func shardLess(a, b string) bool {
	na, errA := strconv.Atoi(a)
	nb, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return na < nb
	}
	return a < b
}

// SessionInfo is the server's answer to SESSION: the session of the
// connection that asked.
type SessionInfo struct {
	SessionID      string    `json:"session_id"`
	CreatedAt      time.Time `json:"created_at"`
	LastAccessedAt time.Time `json:"last_accessed_at"`
	// Status is 1 for an active session.
	Status int         `json:"status"`
	User   SessionUser `json:"user"`
}

// SessionUser is the user a session authenticated as. The server sends the
// password masked; it is not kept.
type SessionUser struct {
	Username string `json:"Username"`
	Role     string `json:"Role"`
}

// Session sends SESSION and parses the reply. Each pooled connection has its
// own session; the answer describes whichever connection ran the request.
func (c *Client) Session(ctx context.Context) (SessionInfo, error) {
	res, err := c.Do(ctx, "SESSION")
	if err != nil {
		return SessionInfo{}, err
	}
	var s SessionInfo
	if err := json.Unmarshal(res, &s); err != nil {
		return SessionInfo{}, fmt.Errorf("fleare: SESSION: unexpected reply: %w", err)
	}
	return s, nil
}

// Get returns the value stored at key, as text (JSON for objects). The
// server answers a missing key with an empty value, so "" may mean either.
func (c *Client) Get(ctx context.Context, key string) (string, error) {
	res, err := c.Do(ctx, "GET", key)
	return string(res), err
}

// Set stores value at key.
func (c *Client) Set(ctx context.Context, key, value string) error {
	_, err := c.Do(ctx, "SET", key, value)
	return err
}

// Delete removes key; deleting a missing key is not an error.
func (c *Client) Delete(ctx context.Context, key string) error {
	_, err := c.Do(ctx, "DELETE", key)
	return err
}

// existsBatch is the most keys one EXISTS carries: the real server counts
// in 8 signed bits (200 existing keys answer -56), so a count of up to 255
// keys can be read back exactly.
const existsBatch = 255

// Exists returns how many of keys exist. More than 255 keys are asked in
// batches of 255, one request each, because the real server's count
// wraps past 127; each batch's count is read modulo 256.
func (c *Client) Exists(ctx context.Context, keys ...string) (int, error) {
	total := 0
	for start := 0; start == 0 || start < len(keys); start += existsBatch {
		batch := keys[start:min(start+existsBatch, len(keys))]
		res, err := c.Do(ctx, "EXISTS", batch...)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(string(bytes.TrimSpace(res)))
		if err != nil || n < -128 || n > existsBatch {
			return 0, fmt.Errorf("fleare: EXISTS: unexpected reply %.40q", res)
		}
		total += int(uint8(n))
	}
	return total, nil
}

// StrGet returns the value stored at key, or "" when there is none: what
// STR.GET answers on a healthy server, without ever sending STR.GET, which
// crashes the real server when the key does not exist (see UnsafeCommands).
// It sends GET, which is safe on a missing key. Unlike STR.GET it does not
// refuse a key that holds another kind of value: it returns that value's
// text.
func (c *Client) StrGet(ctx context.Context, key string) (string, error) {
	res, err := c.Do(ctx, "GET", key)
	return string(res), err
}

// NumGet returns the number stored at key, and false when there is none,
// without ever sending NUM.GET, which crashes the real server when the key
// does not exist (see UnsafeCommands). It sends GET, which is safe on a
// missing key, and parses the value: a value that is not a number is an
// error, as with NUM.GET.
func (c *Client) NumGet(ctx context.Context, key string) (float64, bool, error) {
	res, err := c.Do(ctx, "GET", key)
	if err != nil || len(res) == 0 {
		return 0, false, err
	}
	n, err := strconv.ParseFloat(string(res), 64)
	if err != nil {
		return 0, false, errors.New("fleare: NumGet: the value stored at the key is not a number")
	}
	return n, true, nil
}
