package context

import (
	"errors"
	"strings"
	"testing"

	"github.com/flmctl/flmctl/pkg/contexts"
)

func TestNewCmdCurrent(t *testing.T) {
	e := newTestEnv(t, "", false, nil)
	called := false
	if err := execute(t, e.f, NewCmdCurrent(e.f, func(*CurrentOptions) error { called = true; return nil }), ""); err != nil || !called {
		t.Fatalf("no arguments: %v (run called: %v)", err, called)
	}
	err := execute(t, e.f, NewCmdCurrent(e.f, func(*CurrentOptions) error { return nil }), "local")
	if !isFlagError(err) {
		t.Errorf("an argument: got %v, want a usage error", err)
	}
}

func TestCurrentRun(t *testing.T) {
	tests := []struct {
		name    string
		content string
		env     map[string]string
		wantOut string
		wantErr string
		errIs   error
	}{
		{"set", sample, nil, "local\n", "", nil},
		// current reports the file, whatever FLAME_CONTEXT says.
		{"env ignored", sample, map[string]string{"FLAME_CONTEXT": "prod"}, "local\n", "", nil},
		{"unset", "contexts:\n  - name: a\n    cluster:\n      endpoint: http://h:1\n", nil, "", "sets no current-context", contexts.ErrNoCurrentContext},
		{"dangling", "current-context: gone\ncontexts:\n  - name: a\n    cluster:\n      endpoint: http://h:1\n", nil, "", `current-context "gone" is not one of the contexts`, contexts.ErrNoCurrentContext},
		{"no file", "", nil, "", "has no contexts; add one with", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, tt.content, false, tt.env)
			err := currentRun(&CurrentOptions{IO: e.f.IOStreams, ConfigPath: e.f.ConfigPath})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				if tt.errIs != nil && !errors.Is(err, tt.errIs) {
					t.Errorf("error does not wrap %v", tt.errIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.out.String() != tt.wantOut {
				t.Errorf("stdout %q, want %q", e.out.String(), tt.wantOut)
			}
		})
	}
}
