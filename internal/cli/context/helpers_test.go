package context

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
)

// sample is a flame.yaml with comments, which Save must keep.
const sample = `# my Flame contexts
current-context: local # the default one
contexts:
  # on this machine
  - name: local
    cluster:
      endpoint: http://127.0.0.1:8080
  - name: prod
    cluster:
      endpoint: https://flame.example.com:8080
    cache:
      endpoint: grpcs://flame.example.com:9090
      storage: /shared/cache
`

type testEnv struct {
	f               *cmdutil.Factory
	path            string
	in, out, errOut *bytes.Buffer
}

// newTestEnv returns a Factory whose config file is dir/flame.yaml holding
// content ("" means no file). tty makes all three streams terminals.
func newTestEnv(t *testing.T, content string, tty bool, env map[string]string) *testEnv {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "flame.yaml")
	if content != "" {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ios, in, out, errOut := iostreams.Test()
	ios.SetStdinTTY(tty)
	ios.SetStdoutTTY(tty)
	ios.SetStderrTTY(tty)
	if env == nil {
		env = map[string]string{}
	}
	env["HOME"] = dir
	env["FLAME_CONFIG"] = path
	f := cmdutil.New(ios, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, cmdutil.BuildInfo{})
	return &testEnv{f: f, path: path, in: in, out: out, errOut: errOut}
}

func (e *testEnv) file(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// execute runs cmd under a bare "flmctl" root that has the global flags,
// with the command line split on spaces.
func execute(t *testing.T, f *cmdutil.Factory, cmd *cobra.Command, line string) error {
	t.Helper()
	root := &cobra.Command{Use: "flmctl", SilenceErrors: true, SilenceUsage: true}
	cmdutil.AddGlobalFlags(root, f)
	root.AddCommand(cmd)
	root.SetArgs(append([]string{cmd.Name()}, strings.Fields(line)...))
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cmdutil.FlagErrorWrap(err) })
	return root.Execute()
}

func isFlagError(err error) bool {
	var fe *cmdutil.FlagError
	return errors.As(err, &fe)
}
