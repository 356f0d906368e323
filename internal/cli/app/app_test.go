package app

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/local"
)

func TestNewCmdRegister(t *testing.T) {
	tests := []struct {
		line     string
		wantName string
		wantFile string
		wantSpec Spec
		wantErr  string
	}{
		{"-f apps.yaml", "", "apps.yaml", Spec{}, ""},
		{"echo --command /bin/echo --arg a --arg 'b c' --env K=V --env X=1=2 --workdir /tmp --max-instances 3 --delay-release 5 --label l --shim Host --description d --url u --installer python",
			"echo", "", Spec{Command: "/bin/echo", Arguments: []string{"a", "b c"}, Environments: map[string]string{"K": "V", "X": "1=2"},
				WorkingDirectory: "/tmp", MaxInstances: new(uint32(3)), DelayRelease: new(Seconds(5)), Labels: []string{"l"},
				Shim: "Host", Description: "d", URL: "u", Installer: "python"}, ""},
		{"", "", "", Spec{}, "app register needs --file FILE or an application name with --command"},
		{"echo -f a.yaml", "", "", Spec{}, "give either --file or an application name with flags, not both"},
		{"-f a.yaml --command x", "", "", Spec{}, "--file describes the applications; drop the other spec flags"},
		{"echo --env NOVALUE", "", "", Spec{}, `invalid --env "NOVALUE": use NAME=VALUE`},
		{"echo --max-instances -1", "", "", Spec{}, "invalid --max-instances -1"},
		{"echo --delay-release -1", "", "", Spec{}, "invalid --delay-release -1: give a number of seconds"},
		{"echo --shim Docker", "", "", Spec{}, `invalid argument "Docker" for "--shim" flag: valid values are {Host|Wasm}`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, false)
			var got *RegisterOptions
			err := execute(t, e.F, NewCmdRegister(e.F, func(_ context.Context, o *RegisterOptions) error { got = o; return nil }), tt.line)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if got.Name != tt.wantName || got.File != tt.wantFile {
				t.Errorf("name %q file %q", got.Name, got.File)
			}
			if diff := cmp.Diff(tt.wantSpec, got.Spec); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewCmdOthers(t *testing.T) {
	e := newTestEnv(t, false)
	checkErr(t, execute(t, e.F, NewCmdUpdate(e.F, nil), ""), `flmctl update needs --file FILE`)
	var upd *UpdateOptions
	if err := execute(t, e.F, NewCmdApply(e.F, func(_ context.Context, o *UpdateOptions) error { upd = o; return nil }), "-f -"); err != nil || upd.File != "-" || !upd.Apply {
		t.Errorf("apply: %v %+v", err, upd)
	}
	checkErr(t, execute(t, e.F, NewCmdDelete(e.F, nil), "echo"), `--yes is required to delete application "echo" when not running interactively`)
	var del *DeleteOptions
	if err := execute(t, e.F, NewCmdDelete(e.F, func(_ context.Context, o *DeleteOptions) error { del = o; return nil }), "echo --yes"); err != nil || del.Name != "echo" {
		t.Errorf("delete: %v %+v", err, del)
	}
	tty := newTestEnv(t, true)
	if err := execute(t, tty.F, NewCmdDelete(tty.F, func(_ context.Context, o *DeleteOptions) error { del = o; return nil }), "echo"); err != nil || del.Yes {
		t.Errorf("delete on a terminal needs no --yes: %v", err)
	}
	var get *GetOptions
	if err := execute(t, e.F, NewCmdGet(e.F, func(_ context.Context, o *GetOptions) error { get = o; return nil }), "echo -o yaml"); err != nil || get.Format != "yaml" {
		t.Errorf("get: %v %+v", err, get)
	}
	var list *ListOptions
	if err := execute(t, e.F, NewCmdList(e.F, func(_ context.Context, o *ListOptions) error { list = o; return nil }), "--no-headers"); err != nil || !list.NoHeaders || list.Format != "table" {
		t.Errorf("list: %v %+v", err, list)
	}
}

func TestParseManifests(t *testing.T) {
	good := `metadata:
  name: a
spec:
  command: /bin/a
  delay_release: 2m
  schema:
    input: '{"type":"string"}'
---
kind: Application
metadata:
  name: b
spec:
  delay_release: 30
`
	ms, err := parseManifests("f.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Metadata.Name != "a" || *ms[0].Spec.DelayRelease != 120 || *ms[1].Spec.DelayRelease != 30 {
		t.Fatalf("got %+v", ms)
	}
	attrs, err := ms[0].Spec.attributes()
	if err != nil || *attrs.DelayRelease != 2*time.Minute || attrs.Schema.Input != `{"type":"string"}` {
		t.Errorf("attributes %+v, %v", attrs, err)
	}
	for _, tt := range []struct{ doc, want string }{
		{"", "f.yaml has no application documents"},
		{"spec: {}\n", "f.yaml: document 1 has no metadata.name"},
		{"kind: Session\nmetadata: {name: x}\n", `f.yaml: document 1 is a "Session", not an Application`},
		{"metadata: {name: x}\nspec: {delay_release: 1.5s}\n", `delay_release "1.5s" is not a whole number of seconds`},
		{"metadata: {name: x}\nspec: {colour: red}\n", "field colour not found"},
	} {
		if _, err := parseManifests("f.yaml", []byte(tt.doc)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parse %q: %v, want %q", tt.doc, err, tt.want)
		}
	}
	if _, err := (Spec{Shim: "Docker"}).attributes(); err == nil {
		t.Error("an unknown shim was accepted")
	}
}

// TestGetYAMLRoundTrip registers an application, prints it with -o yaml and
// parses the output back to the same attributes.
func TestGetYAMLRoundTrip(t *testing.T) {
	c, err := local.Start(context.Background(), local.Options{BuiltinCommand: []string{os.DevNull}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	e := newTestEnv(t, false)
	e.F.Globals.Endpoint = c.Endpoints().Frontend
	t.Cleanup(func() { _ = e.F.Close() })
	ctx := context.Background()
	reg := &RegisterOptions{IO: e.F.IOStreams, Client: e.F.Client, Name: "rt", Spec: Spec{
		Command: "/bin/x", Arguments: []string{"-v"}, Environments: map[string]string{"A": "1"},
		MaxInstances: new(uint32(2)), DelayRelease: new(Seconds(7)), Labels: []string{"l1"}, Description: "round trip",
	}}
	if err := registerRun(ctx, reg); err != nil {
		t.Fatal(err)
	}
	if err := getRun(ctx, &GetOptions{IO: e.F.IOStreams, Client: e.F.Client, Name: "rt", Format: printers.FormatYAML}); err != nil {
		t.Fatal(err)
	}
	ms, err := parseManifests("stdout", e.Out.Bytes())
	if err != nil {
		t.Fatalf("get -o yaml does not parse back: %v\n%s", err, e.Out.String())
	}
	want := reg.Spec
	want.Shim = "Host"
	if diff := cmp.Diff(want, ms[0].Spec); diff != "" || ms[0].Metadata.Name != "rt" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	conn, err := e.F.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "rt", ID: "open"}); err != nil {
		t.Fatal(err)
	}
	err = deleteRun(ctx, &DeleteOptions{IO: e.F.IOStreams, Client: e.F.Client, Name: "rt", Yes: true})
	if err == nil || !strings.Contains(err.Error(), "open sessions") {
		t.Errorf("delete with an open session: %v", err)
	}
}

func TestDeleteRun_Declined(t *testing.T) {
	c, err := local.Start(context.Background(), local.Options{BuiltinCommand: []string{os.DevNull}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	e := newTestEnv(t, true)
	e.F.Globals.Endpoint = c.Endpoints().Frontend
	t.Cleanup(func() { _ = e.F.Close() })
	e.In.WriteString("n\n")
	err = deleteRun(context.Background(), &DeleteOptions{IO: e.F.IOStreams, Client: e.F.Client, Name: "flmping"})
	if err != cmdutil.ErrCancel {
		t.Fatalf("got %v, want ErrCancel", err)
	}
	if !strings.Contains(e.ErrOut.String(), `Unregister application "flmping"`) {
		t.Errorf("no question on stderr: %q", e.ErrOut.String())
	}
}
