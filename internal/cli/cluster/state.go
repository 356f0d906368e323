package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/pkg/client"
)

// Files a running cluster keeps in its data directory.
const (
	stateFile = "cluster.json" // written when the cluster is ready, removed when it stops
	logFile   = "cluster.log"  // stdout and stderr of a detached cluster
)

// state describes a running cluster; "cluster status" and "cluster stop"
// read it.
type state struct {
	PID      int    `json:"pid"`
	Frontend string `json:"frontend"`
	Backend  string `json:"backend,omitempty"`
	Cache    string `json:"cache,omitempty"`
	DataDir  string `json:"data_dir"`
	Storage  string `json:"storage"`
}

func writeState(dir string, st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}

// errNotRunning reports that no cluster runs with a data directory.
type errNotRunning struct{ dir string }

// Unwrap makes "not running" a "cannot reach Flame" error (exit code 3).
func (e errNotRunning) Unwrap() error { return client.ErrUnavailable }

func (e errNotRunning) Error() string {
	return fmt.Sprintf("no cluster is running with data directory %s; start one with \"flmctl cluster start\"", e.dir)
}

// readState returns the state of the cluster running in dir. A state file
// whose process is gone is stale: it is removed and errNotRunning returned.
func readState(dir string) (state, error) {
	var st state
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, errNotRunning{dir}
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil || st.PID <= 0 {
		return st, fmt.Errorf("%s is damaged; remove it if no cluster runs", filepath.Join(dir, stateFile))
	}
	if !alive(st.PID) {
		_ = os.Remove(filepath.Join(dir, stateFile))
		return st, errNotRunning{dir}
	}
	return st, nil
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// defaultDataDir is ~/.flame/cluster.
func defaultDataDir(f *cmdutil.Factory) (string, error) {
	home, ok := f.LookupEnv("HOME")
	if !ok || home == "" {
		return "", cmdutil.FlagErrorf("HOME is not set; give the data directory with --data-dir")
	}
	return filepath.Join(home, ".flame", "cluster"), nil
}

func resolveDataDir(f *cmdutil.Factory, dir string) (string, error) {
	if dir == "" {
		return defaultDataDir(f)
	}
	return filepath.Abs(dir)
}
