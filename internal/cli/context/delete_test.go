package context

import (
	"errors"
	"strings"
	"testing"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/pkg/contexts"
)

func TestNewCmdDelete(t *testing.T) {
	tests := []struct {
		line    string
		tty     bool
		want    DeleteOptions
		wantErr string
	}{
		{"prod --yes", false, DeleteOptions{Name: "prod", Yes: true}, ""},
		{"context/prod -y", false, DeleteOptions{Name: "prod", Yes: true}, ""},
		{"prod", true, DeleteOptions{Name: "prod"}, ""},
		{"prod", false, DeleteOptions{}, `--yes is required to delete context "prod" when not running interactively`},
		{"", true, DeleteOptions{}, `context delete needs the name of a context (see "flmctl context list")`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, "", tt.tty, nil)
			var got *DeleteOptions
			err := execute(t, e.f, NewCmdDelete(e.f, func(o *DeleteOptions) error { got = o; return nil }), tt.line)
			if tt.wantErr != "" {
				if !isFlagError(err) || err.Error() != tt.wantErr {
					t.Fatalf("got %v, want *FlagError %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tt.want.Name || got.Yes != tt.want.Yes {
				t.Errorf("options %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestDeleteRun(t *testing.T) {
	tests := []struct {
		name       string
		tty        bool
		yes        bool
		input      string
		ctx        string
		wantErr    error
		wantGone   bool
		wantErrOut string
	}{
		{"yes, not current", false, true, "", "prod", nil, true, "Deleted context \"prod\" from %s.\n"},
		{"yes, current", false, true, "", "local", nil, true,
			"Deleted context \"local\" from %s.\nwarning: \"local\" was the current context; choose another with \"flmctl context use NAME\"\n"},
		{"prompt, yes", true, false, "y\n", "prod", nil, true,
			"Delete context \"prod\" from %s? [y/N]: Deleted context \"prod\" from %s.\n"},
		{"prompt, no", true, false, "n\n", "prod", cmdutil.ErrCancel, false, "Delete context \"prod\" from %s? [y/N]: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, sample, tt.tty, nil)
			e.in.WriteString(tt.input)
			err := deleteRun(&DeleteOptions{IO: e.f.IOStreams, ConfigPath: e.f.ConfigPath, Name: tt.ctx, Yes: tt.yes})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			file, lerr := contexts.Load(e.path)
			if lerr != nil {
				t.Fatal(lerr)
			}
			_, cerr := file.Context(tt.ctx)
			if gone := cerr != nil; gone != tt.wantGone {
				t.Errorf("context gone = %v, want %v", gone, tt.wantGone)
			}
			if !tt.wantGone && e.file(t) != sample {
				t.Error("file changed although nothing was deleted")
			}
			if tt.wantGone && !strings.HasPrefix(e.file(t), "# my Flame contexts\n") {
				t.Error("comments lost")
			}
			if want := strings.ReplaceAll(tt.wantErrOut, "%s", e.path); e.errOut.String() != want {
				t.Errorf("stderr %q, want %q", e.errOut.String(), want)
			}
		})
	}
}

func TestDeleteRun_Unknown(t *testing.T) {
	e := newTestEnv(t, sample, true, nil)
	err := deleteRun(&DeleteOptions{IO: e.f.IOStreams, ConfigPath: e.f.ConfigPath, Name: "nope"})
	var unknown *contexts.UnknownContextError
	if !errors.As(err, &unknown) {
		t.Fatalf("got %v, want an *UnknownContextError", err)
	}
	if e.errOut.Len() != 0 {
		t.Errorf("asked about a context that does not exist: %q", e.errOut.String())
	}
}
