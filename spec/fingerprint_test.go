package spec

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// randomTarget draws a target from small domains, so that equal targets and
// targets differing in a single field are both common.
func randomTarget(r *rand.Rand) Target {
	pick := func(vals ...string) string { return vals[r.IntN(len(vals))] }
	t := Target{
		Name:     pick("a", "b"),
		Host:     pick("h", "10.0.0.1"),
		Port:     1 + r.IntN(2),
		Username: pick("", "u"),
		Pool:     Pool{Size: 1 + r.IntN(2), MaxQueue: r.IntN(2)},
		Timeouts: Timeouts{
			Connect: time.Duration(1+r.IntN(2)) * time.Second,
			Request: time.Duration(1+r.IntN(2)) * time.Second,
			Drain:   time.Duration(r.IntN(2)) * time.Second,
		},
		Retry: Retry{MaxRetries: r.IntN(2), Interval: time.Duration(1+r.IntN(2)) * time.Second},
	}
	switch r.IntN(4) {
	case 0:
		t.Password = NewSecret(pick("p", "q"))
	case 1:
		t.PasswordFile = pick("/f", "/g")
	}
	return t
}

// mutate changes field k (0-13) of t to a value drawn from the same small
// domains, which may equal the old one.
func mutate(r *rand.Rand, t Target, k int) Target {
	u := randomTarget(r)
	switch k {
	case 0:
		t.Name = u.Name
	case 1:
		t.Host = u.Host
	case 2:
		t.Port = u.Port
	case 3:
		t.Username = u.Username
	case 4:
		t.Password = u.Password
	case 5:
		t.PasswordFile = u.PasswordFile
	case 6:
		t.Pool.Size = u.Pool.Size
	case 7:
		t.Pool.MaxQueue = u.Pool.MaxQueue
	case 8:
		t.Timeouts.Connect = u.Timeouts.Connect
	case 9:
		t.Timeouts.Request = u.Timeouts.Request
	case 10:
		t.Timeouts.Drain = u.Timeouts.Drain
	case 11:
		t.Retry.MaxRetries = u.Retry.MaxRetries
	case 12:
		t.Retry.Interval = u.Retry.Interval
	case 13:
		t.Password, t.PasswordFile = u.Password, u.PasswordFile
	}
	return t
}

func TestFingerprintEqualExactlyWhenTargetsEqual(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var equal, different int
	for range 20000 {
		a := randomTarget(r)
		b := mutate(r, a, r.IntN(14))
		fa, fb := a.Fingerprint(), b.Fingerprint()
		if fa != a.Fingerprint() {
			t.Fatalf("fingerprint of %v is not stable", fa)
		}
		if (a == b) != (fa == fb) {
			t.Fatalf("targets == is %v but fingerprints == is %v:\n %+v\n %+v", a == b, fa == fb, a, b)
		}
		if (a == b) != (fa.String() == fb.String()) && a.Password == b.Password {
			t.Fatalf("printable forms disagree with == for targets with the same password:\n %s\n %s", fa, fb)
		}
		if a == b {
			equal++
		} else {
			different++
		}
	}
	if equal < 1000 || different < 1000 {
		t.Fatalf("%d equal and %d different pairs: the property was not exercised both ways", equal, different)
	}
}

func TestFingerprintSecret(t *testing.T) {
	base := Target{Name: "a", Host: "h", Port: 1, Username: "u", Password: NewSecret("one")}
	other := base
	other.Password = NewSecret("two")
	none := base
	none.Password = Secret{}
	if base.Fingerprint() == other.Fingerprint() || base.Fingerprint() == none.Fingerprint() {
		t.Fatal("a password change does not change the fingerprint")
	}
	if base.Fingerprint().String() != other.Fingerprint().String() {
		t.Error("the printable form depends on the password's value")
	}
	if !strings.Contains(base.Fingerprint().String(), "password=set") || !strings.Contains(none.Fingerprint().String(), "password=none") {
		t.Errorf("printable forms: %s / %s", base.Fingerprint(), none.Fingerprint())
	}
}

// TestFingerprintString pins the printable form: it must stay the same
// across runs and releases, as it may be logged and compared.
func TestFingerprintString(t *testing.T) {
	tg := Target{
		Name: "cache-primary", Host: "fe80::1%eth0", Port: 9219, Username: "ro ot",
		PasswordFile: "/run/secrets/fleare",
		Pool:         Pool{Size: 8, MaxQueue: 0},
		Timeouts:     Timeouts{Connect: 5 * time.Second, Request: 1500 * time.Millisecond, Drain: 0},
		Retry:        Retry{MaxRetries: 5, Interval: time.Minute + 30*time.Second},
	}
	const want = `name=cache-primary host=fe80::1%eth0 port=9219 username="ro ot" password=file password_file=/run/secrets/fleare ` +
		`pool.size=8 pool.max_queue=0 pool.pipeline=0 timeouts.connect=5s timeouts.request=1.5s timeouts.drain=0s retry.max_retries=5 retry.interval=1m30s`
	fp := tg.Fingerprint()
	if got := fp.String(); got != want {
		t.Errorf("String:\n got  %s\n want %s", got, want)
	}
	if got, _ := fp.MarshalText(); string(got) != want {
		t.Errorf("MarshalText: %s", got)
	}
	if y, err := yaml.Marshal(fp); err != nil || strings.TrimSpace(string(y)) != want {
		t.Errorf("yaml.Marshal: %q, %v", y, err)
	}
	empty := Target{}.Fingerprint().String()
	if !strings.HasPrefix(empty, `name="" host="" port=0 username="" password=none`) {
		t.Errorf("zero target: %s", empty)
	}
}
