package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// selfExecutable returns the path to run this program again. It prefers the
// name the program was started under (os.Args[0], looked up in PATH when it
// has no slash) over os.Executable, which resolves links: a multi-call binary
// (and testscript's command links) decides what to be from that name.
func selfExecutable() (string, error) {
	if arg0 := os.Args[0]; arg0 != "" {
		if !strings.Contains(arg0, string(filepath.Separator)) {
			if p, err := exec.LookPath(arg0); err == nil {
				return filepath.Abs(p)
			}
		} else if _, err := os.Stat(arg0); err == nil {
			return filepath.Abs(arg0)
		}
	}
	return os.Executable()
}
