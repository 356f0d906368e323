package completion

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
)

func TestNewCmdCompletion(t *testing.T) {
	// A marker each generator writes for a root named flmctl.
	markers := map[string]string{
		"bash":       "__start_flmctl",
		"zsh":        "#compdef flmctl",
		"fish":       "complete -c flmctl",
		"powershell": "Register-ArgumentCompleter",
	}
	for _, shell := range Shells() {
		t.Run(shell, func(t *testing.T) {
			out, err := run(t, shell)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, markers[shell]) {
				t.Errorf("%s script lacks %q", shell, markers[shell])
			}
		})
	}
	for _, args := range []string{"tcsh", "", "bash zsh"} {
		_, err := run(t, strings.Fields(args)...)
		var fe *cmdutil.FlagError
		if !errors.As(err, &fe) {
			t.Errorf("completion %q: got %v, want a usage error", args, err)
		}
	}
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ios, _, out, _ := iostreams.Test()
	f := cmdutil.New(ios, nil, cmdutil.BuildInfo{})
	root := &cobra.Command{Use: "flmctl", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(NewCmdCompletion(f))
	root.SetArgs(append([]string{"completion"}, args...))
	err := root.Execute()
	return out.String(), err
}
