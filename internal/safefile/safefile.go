package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Errors wrapped by those ReadFile returns.
var (
	// ErrNotRegular: the path names a named pipe, socket, device,
	// directory or anything else that is not a regular file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge: the file holds more bytes than the limit.
	ErrTooLarge = errors.New("file too large")
)

// notRegular is the error for a path that is not a regular file: its text
// says what it is instead, and it matches ErrNotRegular.
type notRegular struct{ kind string }

func (e notRegular) Error() string        { return "is a " + e.kind + ", not a regular file" }
func (e notRegular) Is(target error) bool { return target == ErrNotRegular }

// tooLarge is the error for a file over the limit; it matches ErrTooLarge.
type tooLarge struct{ limit int64 }

func (e tooLarge) Error() string        { return fmt.Sprintf("larger than the limit of %d bytes", e.limit) }
func (e tooLarge) Is(target error) bool { return target == ErrTooLarge }

// ReadFile reads the regular file at path, following symbolic links, and
// returns its content. It refuses anything but a regular file (ErrNotRegular)
// and a file of more than limit bytes (ErrTooLarge), reading at most limit+1
// bytes whatever the file claims. Every error is an *fs.PathError naming
// path, and none holds content. limit must not be negative.
func ReadFile(path string, limit int64) ([]byte, error) {
	// Refuse what can be seen to be no regular file before opening it:
	// opening some devices has effects of its own.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: path, Err: notRegular{Kind(fi.Mode())}}
	}
	// The path may have been swapped since: open without blocking, and
	// look again at what was opened.
	f, err := openNonblocking(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: path, Err: notRegular{Kind(fi.Mode())}}
	}
	if fi.Size() > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: tooLarge{limit}}
	}
	return readLimited(f, path, fi.Size(), limit)
}

// readLimited reads f to its end, failing once it has read more than limit
// bytes. size is what the file reports, a hint for the first allocation.
func readLimited(f *os.File, path string, size, limit int64) ([]byte, error) {
	buf := make([]byte, 0, min(size, limit)+1)
	r := io.LimitReader(f, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow, as io.ReadAll does
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, &fs.PathError{Op: "read", Path: path, Err: tooLarge{limit}}
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
	}
}

// Kind names what a file of mode m is, for messages: "directory", "named
// pipe", "socket", "device", "symbolic link", "regular file" or "special
// file".
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "special file"
}
