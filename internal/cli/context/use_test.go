package context

import (
	"errors"
	"strings"
	"testing"

	"github.com/flmctl/flmctl/pkg/contexts"
)

func TestNewCmdUse(t *testing.T) {
	tests := []struct {
		line    string
		want    string
		wantErr string
	}{
		{"prod", "prod", ""},
		{"context/prod", "prod", ""},
		{"", "", `context use needs the name of a context (see "flmctl context list")`},
		{"a b", "", `too many arguments for "flmctl use": b`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, "", false, nil)
			var got *UseOptions
			err := execute(t, e.f, NewCmdUse(e.f, func(o *UseOptions) error { got = o; return nil }), tt.line)
			if tt.wantErr != "" {
				if !isFlagError(err) || err.Error() != tt.wantErr {
					t.Fatalf("got %v, want *FlagError %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Name != tt.want {
				t.Fatalf("got %+v, %v; want name %q", got, err, tt.want)
			}
		})
	}
}

func TestUseRun(t *testing.T) {
	e := newTestEnv(t, sample, false, nil)
	if err := useRun(&UseOptions{IO: e.f.IOStreams, ConfigPath: e.f.ConfigPath, Name: "prod"}); err != nil {
		t.Fatal(err)
	}
	if e.out.Len() != 0 {
		t.Errorf("stdout %q: the confirmation belongs on stderr", e.out.String())
	}
	if want := "Switched to context \"prod\".\n"; e.errOut.String() != want {
		t.Errorf("stderr %q, want %q", e.errOut.String(), want)
	}
	want := strings.Replace(sample, "current-context: local", "current-context: prod", 1)
	if got := e.file(t); got != want {
		t.Errorf("file after use:\n%s\nwant (comments kept):\n%s", got, want)
	}
}

func TestUseRun_Errors(t *testing.T) {
	e := newTestEnv(t, sample, false, nil)
	err := useRun(&UseOptions{IO: e.f.IOStreams, ConfigPath: e.f.ConfigPath, Name: "nope"})
	var unknown *contexts.UnknownContextError
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "available: local, prod") {
		t.Errorf("unknown context: %v", err)
	}
	if e.file(t) != sample {
		t.Error("file changed by a failed use")
	}

	e = newTestEnv(t, "", false, nil)
	err = useRun(&UseOptions{IO: e.f.IOStreams, ConfigPath: e.f.ConfigPath, Name: "local"})
	if err == nil || !strings.Contains(err.Error(), "does not exist; create a context with") {
		t.Errorf("missing file: %v", err)
	}
}
