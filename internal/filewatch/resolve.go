package filewatch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxLinks bounds the symbolic links followed while resolving the path, as
// the kernel does (Linux: 40), so a link cycle ends in an error.
const maxLinks = 40

// errLinkLoop is reported when resolving the path follows too many links.
var errLinkLoop = errors.New("too many levels of symbolic links")

// watchSet is what to watch for one resolution of the path: the directories
// holding each link on the way to the file and the file itself, and the
// entries in them whose change can change what the path reads.
type watchSet struct {
	dirs     []string            // real directories, in order of discovery
	relevant map[string]struct{} // each watched dir, and each dir/entry that matters
}

func (ws *watchSet) add(dir, name string) {
	if _, ok := ws.relevant[dir]; !ok {
		ws.dirs = append(ws.dirs, dir)
		ws.relevant[dir] = struct{}{}
	}
	ws.relevant[filepath.Join(dir, name)] = struct{}{}
}

// resolve walks the absolute, clean path one component at a time, following
// symbolic links, and returns where a change would show:
//
//   - for every symbolic link met, its directory and its name (so that
//     retargeting a link, or the Kubernetes "..data" swap, is seen);
//   - for the file itself, its real directory and its name;
//   - if a component does not exist, the deepest existing directory and the
//     missing name (so that a removed directory is seen coming back).
//
// Every directory returned is free of symbolic links, so the same directory
// is never watched twice under two names.
func resolve(path string) (watchSet, error) {
	ws := watchSet{relevant: make(map[string]struct{})}
	vol := filepath.VolumeName(path)
	root := vol + string(filepath.Separator)
	resolved := root
	rest := splitPath(path[len(vol):])
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, name)
		fi, err := os.Lstat(next)
		if err != nil {
			ws.add(resolved, name) // missing: wait for it to appear
			return ws, nil
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if len(rest) == 0 {
				ws.add(resolved, name)
			}
			resolved = next
			continue
		}
		ws.add(resolved, name)
		if links++; links > maxLinks {
			return ws, errLinkLoop
		}
		target, err := os.Readlink(next)
		if err != nil {
			return ws, nil // replaced under us; the next event re-resolves
		}
		if filepath.IsAbs(target) {
			tvol := filepath.VolumeName(target)
			resolved = tvol + string(filepath.Separator)
			target = target[len(tvol):]
		}
		rest = append(splitPath(target), rest...)
	}
	return ws, nil
}

func splitPath(p string) []string {
	return strings.Split(filepath.ToSlash(p), "/")
}

// readFile reads the regular file at path (following links), refusing
// anything else, so a FIFO or a device can never hang or exhaust the watcher,
// and anything over max bytes.
func readFile(path string, max int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("filewatch: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is a %s", ErrNotRegular, path, kind(fi.Mode()))
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%w: %s has %d bytes, the limit is %d", ErrTooLarge, path, fi.Size(), max)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("filewatch: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	buf.Grow(int(fi.Size()) + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(f, max+1)); err != nil {
		return nil, fmt.Errorf("filewatch: read %s: %w", path, err)
	}
	if int64(buf.Len()) > max {
		return nil, fmt.Errorf("%w: %s has more than %d bytes", ErrTooLarge, path, max)
	}
	return buf.Bytes(), nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	default:
		return "non-regular file"
	}
}
