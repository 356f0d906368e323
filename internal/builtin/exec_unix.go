//go:build unix

package builtin

import (
	"os/exec"
	"syscall"
)

// killProcessGroupOnCancel runs the script in its own process group and
// makes cancellation kill the whole group, so that processes the script
// started do not outlive the task.
func killProcessGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
