// Package safefile reads the small files fleare-manager trusts the least:
// configuration files, password files and token files, whose path someone
// else may have pointed at something that is not a file.
//
// ReadFile is the one way every such file is read. It reads regular files
// only: a named pipe, a socket, a device (such as /dev/zero) or a directory,
// directly or through a symbolic link, is refused at once with an error
// wrapping ErrNotRegular, without being opened when that can be seen first,
// and otherwise opened without blocking (O_NONBLOCK), so a reader never
// hangs on a pipe nobody writes to. The size limit is enforced while
// reading, not only by the size the file reports, so a file that grows
// (or a /proc file that reports no size) cannot use more than the limit
// plus one byte of memory; a larger file is an error wrapping ErrTooLarge.
//
// Usage:
//
//	data, err := safefile.ReadFile("/etc/fleare/fleare.yaml", 16<<20)
//	switch {
//	case errors.Is(err, safefile.ErrNotRegular):
//		// a FIFO, device, socket or directory: refused, nothing was read
//	case errors.Is(err, safefile.ErrTooLarge):
//		// over the limit: refused after reading at most limit+1 bytes
//	case err != nil:
//		// missing, permission denied, I/O error (an *fs.PathError)
//	}
//
// Errors name the path and never hold any of the file's content.
package safefile
