package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// logValue returns the value of key in the first JSON log line of log
// whose msg is msg.
func logValue(log, msg, key string) string {
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			if v, ok := rec[key].(string); ok {
				return v
			}
		}
	}
	return ""
}

// serveTCP starts serve on cfg with the admin API on a loopback TCP port
// whose bearer token, token, is read from a file in dir, and returns the
// process and the API's address (read from serve's JSON log).
func serveTCP(t *testing.T, dir, cfg, token string) (*proc, string) {
	t.Helper()
	tokenFile := filepath.Join(dir, "token-"+token)
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, _ := startServe(t, dir, cfg, "--admin-addr", "127.0.0.1:0", "--token-file", tokenFile, "--log-format", "json")
	var addr string
	waitFor(t, "the TCP listener", func() bool {
		addr = logValue(p.stderr.String(), "admin API listening", "addr")
		return addr != ""
	})
	return p, addr
}

// get sends GET url with the Authorization header auth ("" for none) and
// returns the status code.
func get(t *testing.T, url, auth string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestServeTCPNeedsToken(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"), targetYAML{"cache", srv.Port(), 1})
	p, sock := startServe(t, dir, cfg, "--admin-addr", "127.0.0.1:0", "--log-format", "json")
	var addr, tokenFile string
	waitFor(t, "the TCP listener", func() bool {
		addr = logValue(p.stderr.String(), "admin API listening", "addr")
		tokenFile = logValue(p.stderr.String(), "admin API token generated", "token_file")
		return addr != "" && tokenFile != ""
	})
	if want := filepath.Join(dir, "fleare-manager.token"); tokenFile != want {
		t.Errorf("token file %q, want %q (in XDG_RUNTIME_DIR)", tokenFile, want)
	}
	fi, err := os.Stat(tokenFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v, want mode 0600", fi, err)
	}
	data, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(data))
	if strings.Contains(p.stderr.String(), token) {
		t.Error("the log holds the token")
	}

	url := "http://" + addr + "/v1/status"
	for _, tc := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer " + token + "x", 401}, {"Bearer " + token, 200}} {
		if got := get(t, url, tc.auth); got != tc.want {
			t.Errorf("Authorization %q: %d, want %d", tc.auth, got, tc.want)
		}
	}
	if _, err := status(t, sock); err != nil { // the socket needs no token
		t.Errorf("status over the socket: %v", err)
	}

	// The CLI finds the token in the default file, $FLEARECTL_TOKEN or
	// --token-file, in this order of precedence, reversed.
	expect(t, 0, baseEnv(dir), "status", "--admin-addr", addr)
	other := shortDir(t)
	r := expect(t, 2, baseEnv(other), "status", "--admin-addr", addr)
	if !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "bearer token") {
		t.Errorf("status without a token: %v", r)
	}
	expect(t, 0, baseEnv(other, tokenEnv+"="+token), "status", "--admin-addr", addr)
	wrong := filepath.Join(other, "wrong")
	if err := os.WriteFile(wrong, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	expect(t, 2, baseEnv(other, tokenEnv+"="+token), "status", "--admin-addr", addr, "--token-file", wrong)
	expect(t, 0, baseEnv(other), "status", "--admin-addr", addr, "--token-file", tokenFile)

	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Errorf("serve after SIGTERM: exit %d", code)
	}
}

func TestServeTCPTokenFileAndLoopbackOnly(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"), targetYAML{"cache", srv.Port(), 1})
	r := flearectl(t, baseEnv(dir, passwordEnv+"="+testPassword), "", "serve", "-f", cfg,
		"--socket", filepath.Join(dir, "admin.sock"), "--admin-addr", "0.0.0.0:0")
	if r.code != 2 || !strings.Contains(r.stderr, "loopback") {
		t.Errorf("serve on 0.0.0.0: %v", r)
	}
	p, addr := serveTCP(t, dir, cfg, "my-own-token")
	if got := get(t, "http://"+addr+"/v1/status", "Bearer my-own-token"); got != 200 {
		t.Errorf("the token from --token-file: %d", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "fleare-manager.token")); !os.IsNotExist(err) {
		t.Errorf("a token was generated although --token-file was given: %v", err)
	}
	p.signal(t, syscall.SIGINT)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Errorf("serve after SIGINT: exit %d", code)
	}
}
