package context

import (
	"errors"
	"strings"
	"testing"

	"github.com/flmctl/flmctl/pkg/contexts"
)

func TestNewCmdView(t *testing.T) {
	tests := []struct {
		line    string
		want    ViewOptions
		wantErr string
	}{
		{"", ViewOptions{Format: "yaml"}, ""},
		{"prod -o json", ViewOptions{Name: "prod", Format: "json"}, ""},
		{"-o table", ViewOptions{}, `unknown output format "table"; allowed: yaml, json`},
		{"a b", ViewOptions{}, `too many arguments for "flmctl view": b`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, "", false, nil)
			var got *ViewOptions
			err := execute(t, e.f, NewCmdView(e.f, func(o *ViewOptions) error { got = o; return nil }), tt.line)
			if tt.wantErr != "" {
				if !isFlagError(err) || err.Error() != tt.wantErr {
					t.Fatalf("got %v, want *FlagError %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tt.want.Name || got.Format != tt.want.Format {
				t.Errorf("options %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestViewRun(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		ctx     string // argument
		global  string // --context
		format  string
		want    string
		wantErr error
	}{
		{"current, env override", map[string]string{"FLAME_ENDPOINT": "http://env:1"}, "", "", "yaml", `ca_file: ""
cache_ca_file: ""
cache_endpoint: grpc://127.0.0.1:9090
cache_storage: ""
config_file: %s
context: local
endpoint: http://env:1
package_excludes: []
package_storage: ""
runner_template: flmrun
`, nil},
		{"argument beats --context", nil, "prod", "local", "json", `{
  "context": "prod",
  "config_file": "%s",
  "endpoint": "https://flame.example.com:8080",
  "ca_file": "",
  "cache_endpoint": "grpcs://flame.example.com:9090",
  "cache_ca_file": "",
  "cache_storage": "/shared/cache",
  "package_storage": "",
  "package_excludes": [],
  "runner_template": "flmrun"
}
`, nil},
		{"unknown", nil, "nope", "", "yaml", "", &contexts.UnknownContextError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, sample, false, tt.env)
			line := strings.TrimSpace(tt.ctx + " -o " + tt.format)
			if tt.global != "" {
				line += " --context " + tt.global
			}
			// Parse through the real command, so the Resolve it wires is tested.
			var opts *ViewOptions
			if err := execute(t, e.f, NewCmdView(e.f, func(o *ViewOptions) error { opts = o; return nil }), line); err != nil {
				t.Fatal(err)
			}
			err := viewRun(opts)
			if tt.wantErr != nil {
				var unknown *contexts.UnknownContextError
				if !errors.As(err, &unknown) {
					t.Fatalf("got %v, want an *UnknownContextError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.ReplaceAll(tt.want, "%s", e.path); e.out.String() != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", e.out.String(), want)
			}
		})
	}
}
