package spec

import "github.com/fleare-manager/fleare-manager/proxy"

// ProxyOptions translates the listen section to the proxy's options: its
// users (a password_file read again at every login) and limits. The
// caller adds what depends on the running pool (MaxInFlight, Dial,
// OnEvent). Every limit is set: Listen holds the values in force.
func (l Listen) ProxyOptions() proxy.Options {
	var users []proxy.User
	for _, u := range l.Users.All() {
		pu := proxy.User{Username: u.Username, Password: u.Password.Reveal()}
		if u.PasswordFile != "" {
			pu.Password = ""
			pu.PasswordFunc = func() (string, error) {
				pw, err := u.ResolvePassword()
				return pw.Reveal(), err
			}
		}
		users = append(users, pu)
	}
	return proxy.Options{
		Users:        users,
		MaxClients:   l.MaxClients,
		AuthTimeout:  l.AuthTimeout,
		ReadTimeout:  l.ReadTimeout,
		WriteTimeout: l.WriteTimeout,
		MaxPipeline:  l.MaxPipeline,
		ClientBuffer: l.ClientBuffer,
	}
}
