package session

import (
	"context"
	"errors"
	"github.com/flmctl/flmctl/internal/cli/clitest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/local"
)

func TestNewCmdCreate(t *testing.T) {
	tests := []struct {
		line    string
		want    CreateOptions
		wantErr string
	}{
		{"flmping", CreateOptions{Application: "flmping", Spec: specFlags{Max: -1}}, ""},
		{"echo --id s1 --min 1 --max 3 --priority 2 --resreq cpu=1,mem=1g --common-data @x",
			CreateOptions{Application: "echo", Spec: specFlags{ID: "s1", Min: 1, Max: 3, Priority: 2, ResReq: "cpu=1,mem=1g", CommonData: "@x"}}, ""},
		{"", CreateOptions{}, `session create needs the name of an application (see "flmctl app list")`},
		{"a b", CreateOptions{}, `too many arguments for "flmctl create": b`},
		{"a --max 1 --min 2", CreateOptions{}, "--max 1 is less than --min 2"},
		{"a --max -2", CreateOptions{}, "invalid --max -2: give a number of instances, or -1 for unlimited"},
		{"a --resreq cpu=x", CreateOptions{},
			`--resreq: invalid resource requirement "cpu=x": cpu value "x" is not a non-negative integer; use e.g. cpu=2,mem=4g,gpu=1`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, false)
			var got *CreateOptions
			err := execute(t, e.F, NewCmdCreate(e.F, func(_ context.Context, o *CreateOptions) error { got = o; return nil }), tt.line)
			if tt.wantErr != "" && strings.HasPrefix(tt.wantErr, "--resreq") {
				// The SDK owns the exact wording; the flag and the bad part must be named.
				if !isFlagError(err) || !strings.HasPrefix(err.Error(), `--resreq: invalid resource requirement "cpu=x"`) || !strings.Contains(err.Error(), `"x"`) {
					t.Fatalf("got %v", err)
				}
				return
			}
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if got.Application != tt.want.Application || got.Spec != tt.want.Spec {
				t.Errorf("options %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestNewCmdOpen(t *testing.T) {
	tests := []struct {
		line    string
		wantID  string
		wantApp string
		wantErr string
	}{
		{"s1", "s1", "", ""},
		{"s1 --app echo --min 2", "s1", "echo", ""},
		{"s1 --priority 3", "", "", "--priority describes a new session and needs --app"},
		{"", "", "", "session open needs a session id"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, false)
			var got *OpenOptions
			err := execute(t, e.F, NewCmdOpen(e.F, func(_ context.Context, o *OpenOptions) error { got = o; return nil }), tt.line)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if got.ID != tt.wantID || got.Application != tt.wantApp {
				t.Errorf("options %+v", *got)
			}
		})
	}
}

func TestNewCmdCloseDeleteGetList(t *testing.T) {
	e := newTestEnv(t, false)
	var closeOpts *CloseOptions
	if err := execute(t, e.F, NewCmdClose(e.F, func(_ context.Context, o *CloseOptions) error { closeOpts = o; return nil }), "s1 --wait"); err != nil {
		t.Fatal(err)
	}
	if closeOpts.ID != "s1" || !closeOpts.Wait {
		t.Errorf("close options %+v", *closeOpts)
	}
	err := execute(t, e.F, NewCmdClose(e.F, func(context.Context, *CloseOptions) error { return nil }), "")
	checkErr(t, err, `session close needs a session id (see "flmctl session list")`)

	var delOpts *DeleteOptions
	if err := execute(t, e.F, NewCmdDelete(e.F, func(_ context.Context, o *DeleteOptions) error { delOpts = o; return nil }), "s2"); err != nil || delOpts.ID != "s2" {
		t.Errorf("delete: %v %+v", err, delOpts)
	}

	var getOpts *GetOptions
	if err := execute(t, e.F, NewCmdGet(e.F, func(_ context.Context, o *GetOptions) error { getOpts = o; return nil }), "s3 -o yaml"); err != nil || getOpts.ID != "s3" || getOpts.Format != "yaml" {
		t.Errorf("get: %v %+v", err, getOpts)
	}

	var listOpts *ListOptions
	if err := execute(t, e.F, NewCmdList(e.F, func(_ context.Context, o *ListOptions) error { listOpts = o; return nil }), "--app echo --state closed --no-headers -o wide"); err != nil {
		t.Fatal(err)
	}
	if want := (ListOptions{Application: "echo", State: "closed", Format: "wide", NoHeaders: true}); listOpts.Application != want.Application ||
		listOpts.State != want.State || listOpts.Format != want.Format || listOpts.NoHeaders != want.NoHeaders {
		t.Errorf("list options %+v", *listOpts)
	}
	err = execute(t, e.F, NewCmdList(e.F, func(context.Context, *ListOptions) error { return nil }), "--state gone")
	checkErr(t, err, `invalid argument "gone" for "--state" flag: valid values are {open|closed}`)
}

func TestReadData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, []byte("from file"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ in, want string }{
		{"text", "text"}, {"@" + path, "from file"}, {"-", "from stdin"},
	} {
		got, err := readData(tt.in, strings.NewReader("from stdin"))
		if err != nil || string(got) != tt.want {
			t.Errorf("readData(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := readData("@"+path+".missing", nil); err == nil || !strings.Contains(err.Error(), "data.missing") {
		t.Errorf("missing file: %v", err)
	}
}

// startCluster starts an embedded cluster and returns a Factory dialing it.
func startCluster(t *testing.T, tty bool) *clitest.Env {
	t.Helper()
	c, err := local.Start(context.Background(), local.Options{
		// Instances must never start this test binary; tasks here stay pending.
		BuiltinCommand: []string{os.DevNull},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	e := newTestEnv(t, tty)
	e.F.Globals.Endpoint = c.Endpoints().Frontend
	t.Cleanup(func() { _ = e.F.Close() })
	return e
}

func TestSessionRun(t *testing.T) {
	e := startCluster(t, false)
	ctx := context.Background()
	create := &CreateOptions{IO: e.F.IOStreams, Client: e.F.Client, Application: "flmping",
		Spec: specFlags{ID: "s1", Max: 4, ResReq: "cpu=1,mem=2g", CommonData: "-"}}
	e.In.WriteString("common")
	if err := createRun(ctx, create); err != nil {
		t.Fatal(err)
	}
	if e.Out.String() != "s1\n" {
		t.Errorf("create printed %q", e.Out.String())
	}

	e.Out.Reset()
	now := time.Now()
	if err := getRun(ctx, &GetOptions{IO: e.F.IOStreams, Client: e.F.Client, ID: "s1", Format: "table", Now: func() time.Time { return now }}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(e.Out.String(), "\n")
	var kept []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "Created:") {
			kept = append(kept, l)
		}
	}
	want := `ID:            s1
Application:   flmping
State:         Open
Completed:     <none>
Min instances: 0
Max instances: 4
Priority:      0
Resources:     cpu=1,mem=2g,gpu=0
Common data:   6 bytes
Tasks:         0 pending, 0 running, 0 succeed, 0 failed, 0 cancelled
Events:        <none>
`
	if diff := cmp.Diff(want, strings.Join(kept, "\n")); diff != "" {
		t.Errorf("get (-want +got):\n%s", diff)
	}

	e.Out.Reset()
	if err := listRun(ctx, &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: "name", Application: "nope"}); !isNoResults(err) {
		t.Errorf("list of another app: %v", err)
	}
	if err := listRun(ctx, &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: "name", State: "open"}); err != nil || e.Out.String() != "session/s1\n" {
		t.Errorf("list: %v %q", err, e.Out.String())
	}

	e.ErrOut.Reset()
	if err := closeRun(ctx, &CloseOptions{IO: e.F.IOStreams, Client: e.F.Client, ID: "s1", Wait: true}); err != nil {
		t.Fatal(err)
	}
	if e.ErrOut.String() != "Session \"s1\" closed.\n" {
		t.Errorf("close stderr %q", e.ErrOut.String())
	}
	err := getRun(ctx, &GetOptions{IO: e.F.IOStreams, Client: e.F.Client, ID: "gone", Format: "json"})
	if !errors.Is(err, client.ErrNotFound) {
		t.Errorf("get of a missing session: %v", err)
	}
	err = createRun(ctx, &CreateOptions{IO: e.F.IOStreams, Client: e.F.Client, Application: "nope", Spec: specFlags{Max: -1}})
	if !errors.Is(err, client.ErrNotFound) || !strings.Contains(err.Error(), "flmctl app") {
		t.Errorf("create for a missing application: %v", err)
	}
}

func isNoResults(err error) bool {
	var nr *cmdutil.NoResultsError
	return errors.As(err, &nr)
}

func TestWithAppHint(t *testing.T) {
	bare := &client.FlameError{Code: client.CodeNotFound, Message: "application x not found"}
	if got := withAppHint(bare, "x").Error(); got != `application x not found; is application "x" registered? (see "flmctl app list")` {
		t.Errorf("bare: %s", got)
	}
	hinted := &client.FlameError{Code: client.CodeNotFound, Message: "application x not found; register it first (flmctl app register)"}
	if got := withAppHint(hinted, "x"); got != error(hinted) {
		t.Errorf("a server hint got another one: %v", got)
	}
	other := errors.New("boom")
	if got := withAppHint(other, "x"); got != other {
		t.Errorf("other errors are kept: %v", got)
	}
}
