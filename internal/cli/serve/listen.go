package serve

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"
)

// maxSocketPath is the longest Unix socket path Linux accepts.
const maxSocketPath = 107

// listenPath returns the socket path of a --listen value: unix:///PATH,
// unix:PATH or a plain PATH.
func listenPath(v string) (string, error) {
	path := v
	if rest, ok := strings.CutPrefix(v, "unix://"); ok {
		path = rest
	} else if rest, ok := strings.CutPrefix(v, "unix:"); ok {
		path = rest
	} else if strings.Contains(v, "://") {
		return "", fmt.Errorf("--listen %q: only Unix sockets are served; use unix:///PATH", v)
	}
	switch {
	case path == "":
		return "", fmt.Errorf("--listen %q names no socket path; use unix:///PATH", v)
	case len(path) > maxSocketPath:
		return "", fmt.Errorf("--listen socket path %s is %d bytes, more than the %d a Unix socket allows; use a shorter path",
			path, len(path), maxSocketPath)
	}
	return path, nil
}

// listen listens on the socket of a --listen value, first removing a stale
// socket there; it refuses to remove anything else, or a socket in use.
func listen(v string) (net.Listener, string, error) {
	path, err := listenPath(v)
	if err != nil {
		return nil, "", err
	}
	fi, err := os.Lstat(path)
	switch {
	case err == nil:
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, "", fmt.Errorf("--listen: %s exists and is not a socket; remove it or pick another path", path)
		}
		if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = conn.Close()
			return nil, "", fmt.Errorf("--listen: socket %s is in use by another process; stop it or pick another path", path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("--listen: remove stale socket %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, "", fmt.Errorf("--listen: check %s: %w", path, err)
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, "", fmt.Errorf("--listen: %w", err)
	}
	return lis, path, nil
}
