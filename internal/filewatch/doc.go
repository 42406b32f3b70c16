// Package filewatch watches one file and delivers its content each time it
// may have changed, however the file is saved.
//
// It watches directories, not the file: the file's directory, and the
// directory of every symbolic link on the way to it. So every common way of
// saving is seen: writing in place; writing a temporary file and renaming it
// over (vim, VS Code); deleting and recreating; retargeting a link; and the
// Kubernetes ConfigMap volume, where config.yaml -> ..data/config.yaml and
// ..data, a link to a timestamped directory, is replaced by renaming
// ..data_tmp over it. The path is resolved again after every burst of
// events, so the watches follow the file. If a directory on the way is
// removed or renamed, the deepest remaining one is watched until it comes
// back.
//
// Events are debounced on the trailing edge: the file is read once its
// names have been quiet for Options.Debounce (50 ms by default), then hashed
// with SHA-256. A file being written in place (its last event a write, not
// a rename or a new name) is read only once it has had no write for
// Options.Settle, however long the writer takes, so a half-written file is
// not delivered because it happened to be read between two writes; a file
// replaced in one step (renamed over, a link retargeted) is read after
// Debounce. A change seen only by the poll is delivered once a second read,
// Settle later, finds the same. An Update is delivered only when the state
// differs from the last one delivered, so rewriting identical content
// delivers nothing.
//
// The file is read with safefile.ReadFile: regular files only, at most
// Options.MaxSize bytes, never blocking. A read error (missing file,
// permission denied, a directory, a FIFO or a device where the file should
// be, a file too large) is delivered as Update.Err, once until the error
// changes, and the watch carries on.
//
// The watch does not die silently. An fsnotify error (such as a queue
// overflow) replaces the watcher and re-reads the file; a directory that
// cannot be watched is retried with a backoff bounded at one second; and a
// content poll every Options.PollInterval (2 s by default) catches changes
// on mounts where inotify sees nothing. Such trouble is reported to
// Options.OnError.
//
// Usage:
//
//	updates, err := filewatch.Watch(ctx, "/etc/app/config.yaml", filewatch.Options{
//		OnError: func(err error) { log.Printf("config watch: %v", err) },
//	})
//	if err != nil {
//		return err // invalid options
//	}
//	for u := range updates { // closed when ctx ends
//		if u.Err != nil {
//			log.Printf("config unreadable, keeping the last one: %v", u.Err)
//			continue
//		}
//		apply(u.Data)
//	}
package filewatch
