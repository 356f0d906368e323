//go:build !unix

package builtin

import "os/exec"

// killProcessGroupOnCancel keeps os/exec's default (kill the process only)
// where there are no process groups.
func killProcessGroupOnCancel(*exec.Cmd) {}
