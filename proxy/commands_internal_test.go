package proxy

import (
	"errors"
	"testing"
)

// The reply to an undecodable request is the real server's text, with a
// plain space after "proto:": the protobuf library words its errors with
// a non-breaking space in some builds, to discourage comparing them, and
// which one a build of the proxy gets must not change what apps read.
func TestInvalidFormatText(t *testing.T) {
	const want = "invalid command format: proto: cannot parse invalid wire-format data\n"
	for _, text := range []string{"proto: cannot parse invalid wire-format data", "proto:\u00a0cannot parse invalid wire-format data"} {
		if got := invalidFormat(errors.New(text)); got != want {
			t.Errorf("invalidFormat(%q) = %q, want %q", text, got, want)
		}
	}
}
