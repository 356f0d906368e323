// Package clitest holds what the tests of flmctl's commands share: a
// Factory over test streams, running one command under a bare root with the
// global flags, and checking flag errors. Only tests import it.
package clitest

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
)

// Env is a Factory over test streams.
type Env struct {
	F               *cmdutil.Factory
	In, Out, ErrOut *bytes.Buffer
}

// NewEnv returns an Env; tty makes all three streams terminals. Its HOME is
// a fresh temporary directory, so the config file does not exist.
func NewEnv(t *testing.T, tty bool) *Env {
	t.Helper()
	dir := t.TempDir()
	ios, in, out, errOut := iostreams.Test()
	ios.SetStdinTTY(tty)
	ios.SetStdoutTTY(tty)
	ios.SetStderrTTY(tty)
	env := map[string]string{"HOME": dir}
	f := cmdutil.New(ios, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, cmdutil.BuildInfo{})
	return &Env{F: f, In: in, Out: out, ErrOut: errOut}
}

// Execute runs cmd under a bare "flmctl" root that has the global flags.
// line is split on spaces; a field in single quotes stays one argument.
func Execute(t *testing.T, f *cmdutil.Factory, cmd *cobra.Command, line string) error {
	t.Helper()
	root := &cobra.Command{Use: "flmctl", SilenceErrors: true, SilenceUsage: true}
	cmdutil.AddGlobalFlags(root, f)
	root.AddCommand(cmd)
	root.SetArgs(append([]string{cmd.Name()}, splitLine(line)...))
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cmdutil.FlagErrorWrap(err) })
	return root.Execute()
}

func splitLine(line string) []string {
	var out []string
	for i, part := range strings.Split(line, "'") {
		if i%2 == 1 {
			out = append(out, part)
			continue
		}
		out = append(out, strings.Fields(part)...)
	}
	return out
}

// IsFlagError reports whether err is a usage error (*cmdutil.FlagError).
func IsFlagError(err error) bool {
	var fe *cmdutil.FlagError
	return errors.As(err, &fe)
}

// CheckErr fails unless err is a *FlagError with message want, or nil when
// want is "". It reports whether the test should go on.
func CheckErr(t *testing.T, err error, want string) bool {
	t.Helper()
	if want != "" {
		if !IsFlagError(err) || err.Error() != want {
			t.Fatalf("got %v, want *FlagError %q", err, want)
		}
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}
