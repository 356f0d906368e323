package context

import (
	"errors"
	"testing"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
)

func TestNewCmdList(t *testing.T) {
	tests := []struct {
		line    string
		want    ListOptions
		wantErr string
	}{
		{"", ListOptions{Format: "table"}, ""},
		{"-o wide --no-headers", ListOptions{Format: "wide", NoHeaders: true}, ""},
		{"--output name", ListOptions{Format: "name"}, ""},
		{"-o xml", ListOptions{}, `unknown output format "xml"; allowed: table, wide, json, yaml, name`},
		{"extra", ListOptions{}, `too many arguments for "flmctl list": extra`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, "", false, nil)
			var got *ListOptions
			err := execute(t, e.f, NewCmdList(e.f, func(o *ListOptions) error { got = o; return nil }), tt.line)
			if tt.wantErr != "" {
				if !isFlagError(err) || err.Error() != tt.wantErr {
					t.Fatalf("got %v, want *FlagError %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Format != tt.want.Format || got.NoHeaders != tt.want.NoHeaders {
				t.Errorf("options %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestListRun(t *testing.T) {
	tests := []struct {
		name    string
		content string
		opts    ListOptions
		tty     bool
		wantOut string
	}{
		{"table", sample, ListOptions{Format: "table"}, false,
			"CURRENT   NAME    ENDPOINT                         CACHE\n" +
				"*         local   http://127.0.0.1:8080\n" +
				"          prod    https://flame.example.com:8080   grpcs://flame.example.com:9090\n"},
		{"table on a terminal", sample, ListOptions{Format: "table"}, true,
			"CURRENT   NAME    ENDPOINT                         CACHE\n" +
				"*         local   http://127.0.0.1:8080\n" +
				"          prod    https://flame.example.com:8080   grpcs://flame.example.com:9090\n"},
		{"wide without headers", sample, ListOptions{Format: "wide", NoHeaders: true}, false,
			"*   local   http://127.0.0.1:8080\n" +
				"    prod    https://flame.example.com:8080   grpcs://flame.example.com:9090      /shared/cache\n"},
		{"name", sample, ListOptions{Format: "name"}, false, "context/local\ncontext/prod\n"},
		{"yaml", sample, ListOptions{Format: "yaml"}, false, `- cluster:
    endpoint: http://127.0.0.1:8080
  name: local
- cache:
    endpoint: grpcs://flame.example.com:9090
    storage: /shared/cache
  cluster:
    endpoint: https://flame.example.com:8080
  name: prod
`},
		{"json of no file", "", ListOptions{Format: "json"}, false, "[]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, tt.content, tt.tty, nil)
			tt.opts.IO, tt.opts.ConfigPath = e.f.IOStreams, e.f.ConfigPath
			if err := listRun(&tt.opts); err != nil {
				t.Fatal(err)
			}
			if e.out.String() != tt.wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", e.out.String(), tt.wantOut)
			}
			if e.errOut.Len() != 0 {
				t.Errorf("stderr: %q", e.errOut.String())
			}
		})
	}
}

func TestListRun_NoContexts(t *testing.T) {
	e := newTestEnv(t, "", false, nil)
	err := listRun(&ListOptions{IO: e.f.IOStreams, ConfigPath: e.f.ConfigPath, Format: "table"})
	var nr *cmdutil.NoResultsError
	if !errors.As(err, &nr) {
		t.Fatalf("got %v, want a *NoResultsError", err)
	}
	if e.out.Len() != 0 {
		t.Errorf("stdout: %q", e.out.String())
	}
}

func TestListRun_BrokenFile(t *testing.T) {
	e := newTestEnv(t, "current-context: a\ncontexts:\n  - name: a\n    cluster: [\n", false, nil)
	err := listRun(&ListOptions{IO: e.f.IOStreams, ConfigPath: e.f.ConfigPath, Format: "table"})
	if err == nil {
		t.Fatal("a broken file listed without error")
	}
}
