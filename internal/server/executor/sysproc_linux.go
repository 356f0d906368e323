package executor

import "syscall"

// sysProcAttr puts an instance in its own process group, so that stopping
// it reaches every process it started, and asks the kernel to SIGKILL it if
// the manager's process dies without stopping it (the signal is tied to the
// thread that started the child, which Go keeps alive unless a goroutine
// locked to it exits).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
