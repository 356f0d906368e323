//go:build unix && !linux

package executor

import "syscall"

// sysProcAttr puts an instance in its own process group, so that stopping
// it reaches every process it started.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
