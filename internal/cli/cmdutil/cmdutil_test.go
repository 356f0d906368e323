package cmdutil

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/client"
)

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func newTestFactory(t *testing.T, env map[string]string) *Factory {
	t.Helper()
	ios, _, _, _ := iostreams.Test()
	return New(ios, envMap(env), BuildInfo{Version: "v1.2.3"})
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const twoContexts = `current-context: a
contexts:
  - name: a
    cluster:
      endpoint: http://10.0.0.1:8080
  - name: b
    cluster:
      endpoint: http://10.0.0.2:8080
`

func TestFlagError(t *testing.T) {
	base := errors.New("base")
	err := FlagErrorf("bad --x: %w", base)
	var fe *FlagError
	if !errors.As(err, &fe) || err.Error() != "bad --x: base" || !errors.Is(err, base) {
		t.Errorf("FlagErrorf = %#v", err)
	}
	if FlagErrorWrap(nil) != nil {
		t.Error("FlagErrorWrap(nil) is not nil")
	}
	if err := FlagErrorWrap(base); !errors.As(err, &fe) || !errors.Is(err, base) {
		t.Errorf("FlagErrorWrap = %#v", err)
	}
	if NewNoResultsError("none").Error() != "none" {
		t.Error("NoResultsError message lost")
	}
}

func TestStringEnumFlag(t *testing.T) {
	tests := []struct {
		args    string
		want    string
		wantErr string
	}{
		{"", "auto", ""},
		{"--color never", "never", ""},
		{"--color=always", "always", ""},
		{"--color sometimes", "", `invalid argument "sometimes" for "--color" flag: valid values are {auto|always|never}`},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			var got string
			cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
			fl := StringEnumFlag(cmd, &got, "color", "", "auto", []string{"auto", "always", "never"}, "when to color")
			if !strings.HasSuffix(fl.Usage, "{auto|always|never}") {
				t.Errorf("usage %q does not list the choices", fl.Usage)
			}
			err := cmd.ParseFlags(strings.Fields(tt.args))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			fn, ok := cmd.GetFlagCompletionFunc("color")
			if !ok {
				t.Fatal("no completion registered")
			}
			comps, dir := fn(cmd, nil, "")
			if diff := cmp.Diff([]string{"auto", "always", "never"}, comps); diff != "" || dir != cobra.ShellCompDirectiveNoFileComp {
				t.Errorf("completion %v %v", comps, dir)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	cmd := &cobra.Command{Use: "use <name>"}
	parent := &cobra.Command{Use: "flmctl"}
	parent.AddCommand(cmd)
	tests := []struct {
		name    string
		fn      cobra.PositionalArgs
		args    []string
		wantErr string
	}{
		{"exact ok", ExactArgs(1, "need a name"), []string{"a"}, ""},
		{"exact missing", ExactArgs(1, "need a name"), nil, "need a name"},
		{"exact surplus", ExactArgs(1, "need a name"), []string{"a", "b", "c"}, `too many arguments for "flmctl use": b c`},
		{"max ok", MaximumNArgs(1), []string{"a"}, ""},
		{"max surplus", MaximumNArgs(1), []string{"a", "b"}, `too many arguments for "flmctl use": b`},
		{"none ok", NoArgs, nil, ""},
		{"none surplus", NoArgs, []string{"a"}, `too many arguments for "flmctl use": a`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fn(cmd, tt.args)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *FlagError
			if !errors.As(err, &fe) || err.Error() != tt.wantErr {
				t.Fatalf("got %v (%T), want *FlagError %q", err, err, tt.wantErr)
			}
		})
	}
}

func TestGroupArgs(t *testing.T) {
	group := &cobra.Command{Use: "context", Args: GroupArgs, RunE: GroupRunE}
	group.AddCommand(&cobra.Command{Use: "list", Run: func(*cobra.Command, []string) {}})
	if err := GroupArgs(group, nil); err != nil {
		t.Errorf("no arguments: %v", err)
	}
	err := GroupArgs(group, []string{"lst"})
	var fe *FlagError
	if !errors.As(err, &fe) || err.Error() != `unknown command "lst" for "context" (did you mean "list"?)` {
		t.Errorf("got %v", err)
	}
	if err := GroupArgs(group, []string{"zzzzzz"}); err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("far-off name: %v", err)
	}
}

func TestOutputFormat(t *testing.T) {
	tests := []struct {
		name    string
		enable  func(*cobra.Command)
		args    string
		want    string
		wantErr string
	}{
		{"default", func(c *cobra.Command) { EnableOutput(c, "table", printers.AllowedFormats()...) }, "", "table", ""},
		{"chosen", func(c *cobra.Command) { EnableOutput(c, "table", printers.AllowedFormats()...) }, "-o json", "json", ""},
		{"unknown", func(c *cobra.Command) { EnableOutput(c, "table", printers.AllowedFormats()...) }, "-o xml",
			"", `unknown output format "xml"; allowed: table, wide, json, yaml, name`},
		{"subset", func(c *cobra.Command) { EnableOutput(c, "yaml", "yaml", "json") }, "--output table",
			"", `unknown output format "table"; allowed: yaml, json`},
		{"empty default", func(c *cobra.Command) { EnableOutput(c, "", "json", "yaml") }, "", "", ""},
		{"no output, no flag", func(*cobra.Command) {}, "", "", ""},
		{"no output, flag", func(*cobra.Command) {}, "-o json", "", `"x" prints no data and takes no --output flag`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFactory(t, nil)
			cmd := &cobra.Command{Use: "x"}
			AddGlobalFlags(cmd, f)
			tt.enable(cmd)
			if err := cmd.ParseFlags(strings.Fields(tt.args)); err != nil {
				t.Fatal(err)
			}
			got, err := OutputFormat(cmd)
			if tt.wantErr != "" {
				var fe *FlagError
				if !errors.As(err, &fe) || err.Error() != tt.wantErr {
					t.Fatalf("got %v, want *FlagError %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestAddGlobalFlags_OutputCompletion(t *testing.T) {
	f := newTestFactory(t, nil)
	root := &cobra.Command{Use: "flmctl"}
	AddGlobalFlags(root, f)
	view := &cobra.Command{Use: "view", Run: func(*cobra.Command, []string) {}}
	EnableOutput(view, "yaml", "yaml", "json")
	root.AddCommand(view)
	fn, ok := root.GetFlagCompletionFunc(OutputFlag)
	if !ok {
		t.Fatal("-o has no completion")
	}
	if got, _ := fn(view, nil, ""); !cmp.Equal(got, []string{"yaml", "json"}) {
		t.Errorf("completion on view = %v, want the command's formats", got)
	}
	if got, _ := fn(root, nil, ""); !cmp.Equal(got, printers.AllowedFormats()) {
		t.Errorf("completion on root = %v, want every format", got)
	}
}

func TestFactory_ConfigPath(t *testing.T) {
	tests := []struct {
		name    string
		flag    string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{"flag wins", "/f/flame.yaml", map[string]string{"FLAME_CONFIG": "/e/flame.yaml", "HOME": "/h"}, "/f/flame.yaml", false},
		{"env", "", map[string]string{"FLAME_CONFIG": "/e/flame.yaml", "HOME": "/h"}, "/e/flame.yaml", false},
		{"home", "", map[string]string{"HOME": "/h"}, "/h/.flame/flame.yaml", false},
		{"nothing", "", nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFactory(t, tt.env)
			f.Globals.ConfigFile = tt.flag
			got, err := f.ConfigPath()
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ConfigPath = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestFactory_Config(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "flame.yaml", twoContexts)
	f := newTestFactory(t, map[string]string{"FLAME_CONFIG": path})
	f.Globals.Context = "b"
	r, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "b" || r.Endpoint != "http://10.0.0.2:8080" || r.ConfigFile != path {
		t.Errorf("resolved %+v", r)
	}
	// Resolved once: later changes to flags or file do not matter.
	f.Globals.Context = "a"
	if r2, err := f.Config(); err != nil || r2 != r {
		t.Errorf("second Config() = %+v, %v; want the first result", r2, err)
	}

	f = newTestFactory(t, map[string]string{"FLAME_CONFIG": path, "FLAME_ENDPOINT": "http://env:1"})
	f.Globals.Endpoint = "http://flag:2"
	if r, err := f.Config(); err != nil || r.Endpoint != "http://flag:2" {
		t.Errorf("--endpoint must beat FLAME_ENDPOINT: %+v, %v", r, err)
	}
}

func TestFactory_Client(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	f := newTestFactory(t, map[string]string{"HOME": t.TempDir()})
	f.Globals.Endpoint = "http://" + lis.Addr().String()
	ctx := context.Background()
	c1, err := f.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := f.Client(ctx)
	if err != nil || c2 != c1 {
		t.Fatalf("second Client() = %p, %v; want the first connection %p", c2, err, c1)
	}
	if c1.Endpoint() != f.Globals.Endpoint {
		t.Errorf("connected to %s", c1.Endpoint())
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestFactory_ClientConfigError(t *testing.T) {
	f := newTestFactory(t, nil)
	f.Globals.ConfigFile = filepath.Join(t.TempDir(), "missing.yaml")
	_, err := f.Client(context.Background())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Client with a missing --config file: %v", err)
	}
	var fe *client.FlameError
	if errors.As(err, &fe) {
		t.Errorf("a config error must not look like a server error: %v", err)
	}
}

func TestCompleteContextNames(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", twoContexts+"  - name: alpha\n    cluster:\n      endpoint: http://10.0.0.3:8080\n")
	bad := writeFile(t, dir, "bad.yaml", "contexts: [\n")
	tests := []struct {
		name, config, prefix string
		want                 []string
	}{
		{"all", good, "", []string{"a", "b", "alpha"}},
		{"prefix", good, "al", []string{"alpha"}},
		{"missing file", filepath.Join(dir, "none.yaml"), "", []string{}},
		{"broken file", bad, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFactory(t, nil)
			f.Globals.ConfigFile = tt.config
			got, dir := CompleteContextNames(f)(nil, nil, tt.prefix)
			if !cmp.Equal(got, tt.want) || dir != cobra.ShellCompDirectiveNoFileComp {
				t.Errorf("got %#v %v, want %#v", got, dir, tt.want)
			}
		})
	}
	first := CompleteFirstArg(func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"x"}, cobra.ShellCompDirectiveDefault
	})
	if got, _ := first(nil, []string{"already"}, ""); got != nil {
		t.Errorf("CompleteFirstArg offered %v for a second argument", got)
	}
}
