package filewatch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/fleare-manager/fleare-manager/internal/safefile"
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
	data, err := safefile.ReadFile(path, max)
	if err != nil {
		return nil, fmt.Errorf("filewatch: %w", err)
	}
	return data, nil
}
