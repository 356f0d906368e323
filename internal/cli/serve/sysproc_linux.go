package serve

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts cmd in a process group of its own, so that a
// timeout can kill everything it started, and, on Linux, has the kernel
// kill it if this process dies first: the executor's SIGKILL reaches only
// our own process group.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killProcessGroup kills the process group led by pid.
func killProcessGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }
