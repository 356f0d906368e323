//go:build unix && !linux

package serve

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts cmd in a process group of its own, so that a
// timeout can kill everything it started.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killProcessGroup kills the process group led by pid.
func killProcessGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }
