package spec

import "github.com/fleare-manager/fleare-manager/fleare"

// PoolOptions returns the options of t's connection pool: every
// fleare.Options field that comes from the configuration. It is the one
// translation from a target to its pool; the manager, flearectl check and
// the proxy all build their pools with it, and a test fails when a key of
// the file reaches neither these options nor the list of keys that
// deliberately do not.
//
// Three keys do not reach the options: host and port are the pool's address
// (fleare.NewClient(t.Host, t.Port, ...)), and timeouts.drain bounds how long
// the manager lets a retired pool drain. The caller adds what does not come
// from the configuration: OnEvent, Dialer and AfterConnect.
//
// A Target's zero counts are values (pool.max_queue 0: callers never wait;
// retry.max_retries 0: no retry) where fleare reads a zero as "the default":
// they become fleare's "none", a negative count. pool.pipeline 0 and 1
// both mean off, fleare's 1 (its 0 would be its default, on). The
// password is Password,
// or when password_file is set a PasswordFunc that reads the file at every
// dial, so a rotated secret is used without a reload.
func (t Target) PoolOptions() fleare.Options {
	o := fleare.Options{
		PoolSize:       t.Pool.Size,
		MaxQueue:       noneIfZero(t.Pool.MaxQueue),
		Pipeline:       max(t.Pool.Pipeline, 1),
		Username:       t.Username,
		ConnectTimeout: t.Timeouts.Connect,
		RequestTimeout: t.Timeouts.Request,
		MaxRetries:     noneIfZero(t.Retry.MaxRetries),
		RetryInterval:  t.Retry.Interval,
	}
	o.HealthCheckInterval = t.Pool.HealthCheckInterval
	o.MaxLifetime = t.Pool.MaxLifetime
	o.LifetimeJitter = t.Pool.LifetimeJitter
	if t.PasswordFile != "" {
		o.PasswordFunc = func() (string, error) {
			s, err := t.ResolvePassword()
			return s.Reveal(), err
		}
	} else {
		o.Password = t.Password.Reveal()
	}
	return o
}

// noneIfZero turns a count where zero means none into fleare's form, where
// zero means the default and a negative count none.
func noneIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
