package root

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
)

type env map[string]string

func newRoot(t *testing.T, e env, args ...string) (cmd *cobra.Command, f *cmdutil.Factory, out, errOut *bytes.Buffer) {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	if e == nil {
		e = env{}
	}
	if _, ok := e["HOME"]; !ok {
		e["HOME"] = t.TempDir()
	}
	f = cmdutil.New(ios, func(k string) (string, bool) { v, ok := e[k]; return v, ok }, cmdutil.BuildInfo{Version: "v9"})
	cmd = NewCmdRoot(f)
	cmd.SetArgs(args)
	return cmd, f, out, errOut
}

func TestNewCmdRoot_NoArgsPrintsHelp(t *testing.T) {
	cmd, _, stdout, _ := newRoot(t, nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	for _, want := range []string{"Usage:", "Exit codes:", "130", "$FLAME_CONFIG", "Configuration commands:"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestNewCmdRoot_Groups(t *testing.T) {
	cmd, _, _, _ := newRoot(t, nil)
	ids := map[string]bool{}
	for _, g := range cmd.Groups() {
		ids[g.ID] = true
	}
	used := map[string]bool{}
	for _, c := range cmd.Commands() {
		if c.GroupID != "" {
			used[c.GroupID] = true
			if !ids[c.GroupID] {
				t.Errorf("%s is in group %q, which root does not have", c.Name(), c.GroupID)
			}
		}
	}
	for id := range ids {
		if !used[id] {
			t.Errorf("group %q has no commands and must not be shown", id)
		}
	}
}

// Every command follows docs/cli-style.md: a Short in sentence case without a
// period, and at least one example that uses long flags.
func TestNewCmdRoot_HelpConvention(t *testing.T) {
	cmd, _, _, _ := newRoot(t, nil)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		name := c.CommandPath()
		if c.Short == "" || !unicode.IsUpper([]rune(c.Short)[0]) || strings.HasSuffix(c.Short, ".") {
			t.Errorf("%s: Short %q must be sentence case without a period", name, c.Short)
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s: no Example", name)
		}
		for _, line := range strings.Split(c.Example, "\n") {
			for _, f := range strings.Fields(line) {
				if len(f) == 2 && f[0] == '-' && f[1] != '-' {
					t.Errorf("%s: example %q uses the short flag %s; use long flags", name, strings.TrimSpace(line), f)
				}
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cmd)
}

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name string
		env  env
		args []string
		want string
	}{
		{"env", env{"FLAME_CONTEXT": "prod"}, []string{"version"}, "prod"},
		{"flag beats env", env{"FLAME_CONTEXT": "prod"}, []string{"--context", "dev", "version"}, "dev"},
		{"empty env ignored", env{"FLAME_CONTEXT": ""}, []string{"version"}, ""},
		{"neither", nil, []string{"version"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, f, _, _ := newRoot(t, tt.env, tt.args...)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if f.Globals.Context != tt.want {
				t.Errorf("--context = %q, want %q", f.Globals.Context, tt.want)
			}
		})
	}
}

func TestNewCmdRoot_UsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus" for "flmctl"`},
		{[]string{"contxt"}, `unknown command "contxt" for "flmctl" (did you mean "context"?)`},
		{[]string{"context", "lst"}, `unknown command "lst" for "flmctl context" (did you mean "list"?)`},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"context", "use", "x", "-o", "json"}, `"flmctl context use" prints no data and takes no --output flag`},
		{[]string{"context", "list", "-o", "xml"}, `unknown output format "xml"; allowed: table, wide, json, yaml, name`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd, _, _, errOut := newRoot(t, nil, tt.args...)
			err := cmd.Execute()
			var fe *cmdutil.FlagError
			if !errors.As(err, &fe) || err.Error() != tt.want {
				t.Fatalf("got %v (%T), want *FlagError %q", err, err, tt.want)
			}
			// Errors are printed once, by Main, not by cobra.
			if s := errOut.String(); s != "" {
				t.Errorf("cobra printed %q", s)
			}
		})
	}
}

// Two trees never share flag values: nothing is global.
func TestNewCmdRoot_Independent(t *testing.T) {
	a, fa, _, _ := newRoot(t, nil, "--context", "one", "version")
	b, fb, _, _ := newRoot(t, nil, "version")
	if err := a.Execute(); err != nil {
		t.Fatal(err)
	}
	if err := b.Execute(); err != nil {
		t.Fatal(err)
	}
	if fa.Globals.Context != "one" || fb.Globals.Context != "" {
		t.Errorf("contexts %q and %q", fa.Globals.Context, fb.Globals.Context)
	}
}
