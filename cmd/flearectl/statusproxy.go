package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/fleare-manager/fleare-manager/manager"
)

// proxyTable writes one row per target with a listen section: where apps
// connect, how many are connected, and what they did. Nothing when no
// target has one.
func proxyTable(w io.Writer, st manager.Status) {
	var rows []manager.TargetStatus
	for _, t := range st.Targets {
		if t.Proxy != nil {
			rows = append(rows, t)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\nProxies (apps connect here):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tLISTEN\tCLIENTS\tREQUESTS\tERRORS\tAUTH-FAILURES\tLIMIT-HITS\tDROPPED")
	var problems []string
	for _, t := range rows {
		p := t.Proxy
		listen := p.Listening
		if listen == "" {
			listen = p.Address + " (not listening)"
			problems = append(problems, fmt.Sprintf("%s: cannot listen on %s: %s", t.Name, p.Address, p.ListenError))
		}
		d := p.Dropped
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", t.Name, listen, p.Clients, p.Requests, p.Errors,
			p.AuthFailures, p.LimitHits, d.ReadTimeout+d.WriteTimeout+d.BadFrame+d.Forced)
	}
	_ = tw.Flush()
	for _, l := range problems {
		fmt.Fprintf(w, "  %s\n", l)
	}
}
