package filewatch

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/safefile"
)

// Defaults for the zero values of Options.
const (
	DefaultDebounce     = 50 * time.Millisecond
	DefaultPollInterval = 2 * time.Second
	DefaultMaxSize      = 16 << 20 // bytes
)

// Options tune a watch. The zero value is ready to use; Watch never modifies
// the caller's copy.
type Options struct {
	// Debounce is how long the file and its directories must stay quiet after
	// a change before the file is read. A burst of events longer than ten
	// times Debounce is read at that bound even if it has not ended, unless
	// the file is being written in place (see Settle). Zero means
	// DefaultDebounce (50 ms); negative is invalid.
	Debounce time.Duration

	// PollInterval is how often the file is read and hashed whatever the
	// notifications say, to catch changes on mounts where inotify sees
	// nothing; each poll also re-resolves the path and repairs the watches.
	// Zero means DefaultPollInterval (2 s); negative turns polling off.
	PollInterval time.Duration

	// PollOnly turns file-system notifications off: the file is only polled,
	// every PollInterval, which must then not be negative. Default false.
	PollOnly bool

	// Settle is how long a file being written in place must stay unwritten
	// before it is read. A burst of events that ends with a write to the
	// file itself (rather than a rename, a new link or a new file taking
	// its name) is read only once the file has had no write for Settle,
	// however long the writer takes, so a writer that pauses for less than
	// Settle between its writes never has a partial file delivered. A
	// change found by the poll, or after the watch was re-established, is
	// delivered only when a second read Settle later finds the same state,
	// since no event said whether a writer was still at work. A file
	// replaced in one step (renamed over, or a link retargeted) is read
	// after Debounce. Zero or less than Debounce means Debounce; negative
	// is invalid.
	Settle time.Duration

	// MaxSize is the largest file read, in bytes; a bigger file is delivered
	// as an Update whose Err wraps ErrTooLarge, and no more than MaxSize+1
	// bytes are ever read. Zero means DefaultMaxSize (16 MiB); negative is
	// invalid.
	MaxSize int64

	// OnError, if set, is told about trouble with the watch itself: an
	// fsnotify error such as fsnotify.ErrEventOverflow, a directory that
	// cannot be watched, a watcher that cannot be created. Each arrives as a
	// *WatchError. The watcher repairs itself after each; OnError is for
	// logs and metrics. Problems reading the file are not reported here but
	// in Update.Err. OnError is called from the watching goroutine and must
	// not block. Default nil: such trouble is not reported.
	OnError func(error)

	// injectErrs, when set by tests, feeds errors into the loop as though
	// fsnotify had reported them.
	injectErrs <-chan error
	// beforeAdd, when set by tests, runs before each directory watch is
	// added; an error it returns counts as the add's failure.
	beforeAdd func(dir string) error
}

// ErrBadOptions is wrapped by the error Watch returns for invalid Options.
var ErrBadOptions = errors.New("filewatch: invalid options")

// withDefaults returns a copy of o with defaults applied, or an error.
func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Debounce < 0:
		return o, fmt.Errorf("%w: Debounce %v is negative", ErrBadOptions, o.Debounce)
	case o.Settle < 0:
		return o, fmt.Errorf("%w: Settle %v is negative", ErrBadOptions, o.Settle)
	case o.MaxSize < 0:
		return o, fmt.Errorf("%w: MaxSize %d is negative", ErrBadOptions, o.MaxSize)
	case o.PollOnly && o.PollInterval < 0:
		return o, fmt.Errorf("%w: PollOnly with polling off (PollInterval %v) would never see a change", ErrBadOptions, o.PollInterval)
	}
	if o.Debounce == 0 {
		o.Debounce = DefaultDebounce
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	o.Settle = max(o.Settle, o.Debounce)
	return o, nil
}

// Reason says what made the watcher read the file that produced an Update.
type Reason string

// The reasons an Update is delivered.
const (
	// ReasonInitial marks the first Update of a watch, whatever its cause.
	ReasonInitial Reason = "initial"
	// ReasonNotify: a file-system notification, once the burst went quiet.
	ReasonNotify Reason = "fsnotify"
	// ReasonPoll: the periodic poll found a different state.
	ReasonPoll Reason = "poll"
	// ReasonRewatch: the read that follows re-establishing the watch, after
	// an fsnotify error or a directory watch that had failed.
	ReasonRewatch Reason = "rewatch"
)

// Update is the state of the file at one read. Exactly one of Data and Err
// is meaningful.
type Update struct {
	// Data is the file's content; the receiver owns it. Empty for an empty
	// file and when Err is set.
	Data []byte
	// Hash is the SHA-256 of Data; zero when Err is set.
	Hash [sha256.Size]byte
	// Err is why the file could not be read: it does not exist
	// (errors.Is(Err, fs.ErrNotExist)), permission denied, ErrNotRegular
	// (a named pipe, socket, device or directory, which is never read),
	// ErrTooLarge, or another I/O error. The watch goes on.
	Err error
	// Reason says what triggered the read.
	Reason Reason
}

// state is what makes two Updates the same for deduplication: equal content
// hashes, or equal error texts.
type state struct {
	hash [sha256.Size]byte
	err  string
}

func (u Update) state() state {
	if u.Err != nil {
		return state{err: u.Err.Error()}
	}
	return state{hash: u.Hash}
}

// Errors delivered in Update.Err besides those of the os package. The file
// is read with safefile.ReadFile, whose errors these are.
var (
	ErrNotRegular = safefile.ErrNotRegular
	ErrTooLarge   = safefile.ErrTooLarge
)

// WatchError is trouble with the watch itself, passed to Options.OnError.
type WatchError struct {
	Op   string // "notify" (fsnotify reported Err), "add", "new watcher" or "resolve"
	Path string // the directory concerned; empty when none
	Err  error
}

func (e *WatchError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("filewatch: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("filewatch: %s %s: %v", e.Op, e.Path, e.Err)
}

func (e *WatchError) Unwrap() error { return e.Err }
