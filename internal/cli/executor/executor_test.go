package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flmctl/flmctl/internal/cli/clitest"
	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/local"
)

func TestNewCmdList(t *testing.T) {
	tests := []struct {
		line          string
		wantFormat    string
		wantNoHeaders bool
		wantErr       string
	}{
		{"", "table", false, ""},
		{"--no-headers", "table", true, ""},
		{"-o wide", "wide", false, ""},
		{"--output json", "json", false, ""},
		{"-o yaml", "yaml", false, ""},
		{"-o name --no-headers", "name", true, ""},
		{"-o xml", "", false, `unknown output format "xml"; allowed: table, wide, json, yaml, name`},
		{"e1", "", false, `too many arguments for "flmctl list": e1`},
		{"--all", "", false, "unknown flag: --all"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, false)
			var got *ListOptions
			err := execute(t, e.F, NewCmdList(e.F, func(_ context.Context, o *ListOptions) error { got = o; return nil }), tt.line)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if got.Format != tt.wantFormat || got.NoHeaders != tt.wantNoHeaders {
				t.Errorf("options %+v, want format %q, no headers %v", *got, tt.wantFormat, tt.wantNoHeaders)
			}
			if got.IO != e.F.IOStreams || got.Client == nil {
				t.Error("options lack the Factory's streams or client")
			}
		})
	}
}

// startCluster starts an embedded cluster and returns a connection to it.
func startCluster(t *testing.T) (*local.Cluster, *client.Connection) {
	t.Helper()
	c, err := local.Start(context.Background(), local.Options{BuiltinCommand: []string{os.DevNull}, BackendAddr: "off", CacheAddr: "off"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	conn, err := client.Connect(context.Background(), c.Endpoints().Frontend)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return c, conn
}

// envFor returns a test Factory dialing the cluster.
func envFor(t *testing.T, c *local.Cluster, tty bool) *clitest.Env {
	t.Helper()
	e := newTestEnv(t, tty)
	e.F.Globals.Endpoint = c.Endpoints().Frontend
	t.Cleanup(func() { _ = e.F.Close() })
	return e
}

func TestListRun_Empty(t *testing.T) {
	c, _ := startCluster(t)
	for _, tty := range []bool{false, true} {
		e := envFor(t, c, tty)
		ctx := context.Background()
		for _, format := range []string{"table", "wide", "name"} {
			err := listRun(ctx, &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: format})
			var nr *cmdutil.NoResultsError
			if !errors.As(err, &nr) || !strings.Contains(err.Error(), "no executors") {
				t.Fatalf("tty=%v -o %s: got %v, want *NoResultsError", tty, format, err)
			}
		}
		for format, want := range map[string]string{"json": "[]\n", "yaml": "[]\n"} {
			e.Out.Reset()
			if err := listRun(ctx, &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: format}); err != nil || e.Out.String() != want {
				t.Errorf("tty=%v -o %s: %v %q", tty, format, err, e.Out.String())
			}
		}
		if e.ErrOut.Len() != 0 {
			t.Errorf("tty=%v: stderr %q", tty, e.ErrOut.String())
		}
	}
}

// boundExecutor runs one task of a session of an application served by this
// test binary and returns the executor that ran it, once it is bound to the
// session.
func boundExecutor(t *testing.T, conn *client.Connection) *client.Executor {
	t.Helper()
	ctx := t.Context()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	err = conn.RegisterApplication(ctx, "echo", client.ApplicationAttributes{
		Command:   exe,
		Arguments: []string{"-test.run=^$"},
		// A race-enabled binary otherwise sleeps a second before exiting.
		Environments: map[string]string{echoEnv: "1", "GORACE": strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "echo", ID: "s1",
		ResReq: &client.ResourceRequirement{CPU: 1, Memory: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssn.Close(context.Background()) })
	if out, err := ssn.Run(ctx, []byte("hi")).Wait(ctx); err != nil || string(out) != "hi" {
		t.Fatalf("task: %q, %v", out, err)
	}
	// The executor that ran the task stays bound while the session is open.
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		list, err := conn.ListExecutors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var states []string
		for _, x := range list {
			if x.SessionID == "s1" && x.State == client.ExecutorBound {
				if len(list) != 1 {
					t.Fatalf("%d executors, want 1", len(list))
				}
				return x
			}
			states = append(states, x.ID+"="+x.State.String())
		}
		select {
		case <-deadline:
			t.Fatalf("no executor bound to s1 within 30s; executors: %v", states)
		case <-tick.C:
		}
	}
}

func TestListRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an instance process")
	}
	c, conn := startCluster(t)
	x := boundExecutor(t, conn)
	if x.ID == "" || x.Node == "" {
		t.Fatalf("executor %+v lacks an id or a node", x)
	}
	pad := func(s string, n int) string { return s + strings.Repeat(" ", n-len(s)) }
	// Columns are as wide as their widest cell plus three spaces.
	idW, nodeW := max(len("ID"), len(x.ID))+3, max(len("NODE"), len(x.Node))+3
	table := pad("ID", idW) + pad("NODE", nodeW) + "STATE   SESSION\n" +
		pad(x.ID, idW) + pad(x.Node, nodeW) + "Bound   s1\n"
	// Without the header line, the header no longer sets the widths.
	noHeaders := pad(x.ID, len(x.ID)+3) + pad(x.Node, len(x.Node)+3) + "Bound   s1\n"
	resreq := x.ResReq.String()
	resW := max(len("RESREQ"), len(resreq)) + 3
	wide := pad("ID", idW) + pad("NODE", nodeW) + "STATE   SESSION   " + pad("RESREQ", resW) + "SHIM\n" +
		pad(x.ID, idW) + pad(x.Node, nodeW) + "Bound   s1        " + pad(resreq, resW) + x.Shim.String() + "\n"

	tests := []struct {
		name      string
		format    string
		noHeaders bool
		want      string
	}{
		{"table", "table", false, table},
		{"no headers", "table", true, noHeaders},
		{"wide", "wide", false, wide},
		{"name", "name", false, "executor/" + x.ID + "\n"},
	}
	for _, tt := range tests {
		// Executors have no times or colors: a terminal gets the same bytes.
		for _, tty := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s tty=%v", tt.name, tty), func(t *testing.T) {
				e := envFor(t, c, tty)
				err := listRun(t.Context(), &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: tt.format, NoHeaders: tt.noHeaders})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, e.Out.String()); diff != "" {
					t.Errorf("stdout (-want +got):\n%s", diff)
				}
				if e.ErrOut.Len() != 0 {
					t.Errorf("stderr %q", e.ErrOut.String())
				}
			})
		}
	}

	for _, tty := range []bool{false, true} {
		e := envFor(t, c, tty)
		if err := listRun(t.Context(), &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: "json"}); err != nil {
			t.Fatal(err)
		}
		var got []struct {
			Metadata struct {
				ID string `json:"id"`
			} `json:"metadata"`
			Spec struct {
				Node string `json:"node"`
			} `json:"spec"`
			Status struct {
				State     string `json:"state"`
				SessionID string `json:"session_id"`
			} `json:"status"`
		}
		if err := json.Unmarshal(e.Out.Bytes(), &got); err != nil {
			t.Fatalf("tty=%v: -o json printed %q: %v", tty, e.Out.String(), err)
		}
		if len(got) != 1 || got[0].Metadata.ID != x.ID || got[0].Spec.Node != x.Node ||
			got[0].Status.State != "ExecutorBound" || got[0].Status.SessionID != "s1" {
			t.Errorf("tty=%v: -o json %+v", tty, got)
		}
		e.Out.Reset()
		if err := listRun(t.Context(), &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: "yaml"}); err != nil {
			t.Fatal(err)
		}
		if y := e.Out.String(); !strings.HasPrefix(y, "- metadata:\n") || !strings.Contains(y, "id: "+x.ID+"\n") || !strings.Contains(y, "session_id: s1\n") {
			t.Errorf("tty=%v: -o yaml printed %q", tty, y)
		}
	}
}
