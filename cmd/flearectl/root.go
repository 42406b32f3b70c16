package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleare-manager/fleare-manager/admin"
)

// tokenEnv is the environment variable the client reads a bearer token from.
const tokenEnv = "FLEARECTL_TOKEN"

// run executes the command line args, writing to stdout and stderr. ctx
// ends on SIGINT or SIGTERM.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// newRoot builds the command tree.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "flearectl",
		Short: "Run and drive fleare-manager, the declarative connection manager for Fleare",
		Long: `flearectl runs fleare-manager (serve), drives a running one through its admin API
(apply, diff, status, wait, events, config; pause, resume and reconnect a
target), checks configuration files offline
(validate, check), and shows it all working with in-process servers (demo).

Exit codes: 0 success; 1 the answer is no (a target failed, a file is
invalid, diff found changes); 2 the command could not run (bad usage, the
manager unreachable, an API error).`,
		Example: `  flearectl demo                      # try it: no Fleare server needed
  flearectl serve -f fleare.yaml      # run the manager
  flearectl status                    # ask it how its targets are`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	// Suggest commands within two edits ("aply", "stauts", "valdate"),
	// not only those the word begins.
	root.SuggestionsMinimumDistance = 2
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(
		newServeCmd(stderr),
		newApplyCmd(stdout),
		newDiffCmd(stdout),
		newStatusCmd(stdout),
		newEventsCmd(stdout),
		newConfigCmd(stdout),
		newValidateCmd(stdout),
		newCheckCmd(stdout),
		newDemoCmd(stdout),
		newVersionCmd(stdout),
		newWaitCmd(stdout),
		newPauseCmd(stdout),
		newResumeCmd(stdout),
		newReconnectCmd(stdout),
	)
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Example = "  source <(flearectl completion bash)\n  flearectl completion zsh > \"${fpath[1]}/_flearectl\""
			for _, sub := range c.Commands() {
				sub.Example = "  flearectl completion " + sub.Name() + " --help   # how to install it"
			}
		}
	}
	return root
}

// noArgs refuses positional arguments, as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasSubCommands() {
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := suggestCommand(cmd, args[0]); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return usagef("%s", msg)
		}
		if cmd.Flags().Lookup("filename") != nil {
			return usagef("%s takes no arguments (got %q); files go after -f", cmd.CommandPath(), args[0])
		}
		return usagef("%s takes no arguments (got %q)", cmd.CommandPath(), args[0])
	}
	return nil
}

// suggestCommand names the subcommand of cmd that word most likely meant:
// one that lists word as another tool's name for it ("unpause" is resume),
// else the closest by spelling, else "".
func suggestCommand(cmd *cobra.Command, word string) string {
	for _, c := range cmd.Commands() {
		if slices.Contains(c.SuggestFor, word) {
			return c.Name()
		}
	}
	if s := cmd.SuggestionsFor(word); len(s) > 0 {
		return s[0]
	}
	return ""
}

// conn holds the flags that say where a running manager's admin API is.
type conn struct {
	socket    string
	addr      string
	tokenFile string
	timeout   time.Duration
}

func (c *conn) addFlags(cmd *cobra.Command, timeout time.Duration) {
	f := cmd.Flags()
	f.StringVar(&c.socket, "socket", admin.DefaultSocketPath(), "the manager's admin unix socket")
	f.StringVar(&c.addr, "admin-addr", "", "the manager's admin TCP address (host:port), instead of the socket")
	f.StringVar(&c.tokenFile, "token-file", "",
		"file holding the bearer token for --admin-addr (default: $"+tokenEnv+", else the file serve writes)")
	if timeout > 0 {
		f.DurationVar(&c.timeout, "timeout", timeout, "how long to wait for the manager's reply")
	}
}

// client returns a client for the admin API the flags point at.
func (c *conn) client() (*admin.Client, error) {
	o := admin.ClientOptions{Socket: c.socket, Addr: c.addr}
	if c.addr != "" {
		tok, err := c.token()
		if err != nil {
			return nil, err
		}
		o.Token = tok
	}
	return admin.NewClient(o), nil
}

// token finds the bearer token: --token-file, else $FLEARECTL_TOKEN, else
// the file serve writes a generated token to, if it exists.
func (c *conn) token() (string, error) {
	if c.tokenFile != "" {
		tok, err := admin.ReadTokenFile(c.tokenFile)
		if err != nil {
			return "", usagef("--token-file: %v", err)
		}
		return tok, nil
	}
	if tok := os.Getenv(tokenEnv); tok != "" {
		return tok, nil
	}
	tok, err := admin.ReadTokenFile(admin.DefaultTokenPath())
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil // the server will say 401
	}
	return tok, err
}

// withTimeout bounds ctx by the --timeout flag, when it is set.
func (c *conn) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, c.timeout, &noReplyError{c.timeout})
}

// noReplyError: the manager did not answer within --timeout. The command
// could not run (exit 2); a request already sent may still take effect.
type noReplyError struct{ timeout time.Duration }

func (e *noReplyError) Error() string {
	return fmt.Sprintf("no reply within --timeout %s (a change already sent may still be applied: see flearectl status)", e.timeout)
}
