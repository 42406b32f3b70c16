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

// STR.GET, NUM.GET and AUTH (after the login) are refused in any spelling
// a server might still read as them: any case (ſ folds to s), with blanks
// around the name, or with words after it in the name itself. Other names
// pass.
func TestRefusalSpellings(t *testing.T) {
	for _, name := range []string{"STR.GET", "num.get", "Str.Get", " STR.GET", "NUM.GET\t", "\nstr.get", "STR.GET missing", "\u017ftr.get", "auth", "AUTH", " Auth "} {
		if _, refused := refusal(name, []string{"missing"}); !refused {
			t.Errorf("%q is not refused", name)
		}
	}
	for _, name := range []string{"GET", "STR.SET", "STR.GETX", "XSTR.GET", "STR.GET.X", ""} {
		if msg, refused := refusal(name, []string{"k"}); refused {
			t.Errorf("%q is refused: %s", name, msg)
		}
	}
}
