package task

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/local"
)

func TestNewCmdTask(t *testing.T) {
	e := newTestEnv(t, false)
	var create *CreateOptions
	err := execute(t, e.F, NewCmdCreate(e.F, func(_ context.Context, o *CreateOptions) error { create = o; return nil }), "s1 --input hi")
	if err != nil || create.Session != "s1" || create.Input != "hi" || !create.InputGiven {
		t.Errorf("create: %v %+v", err, create)
	}
	err = execute(t, e.F, NewCmdCreate(e.F, func(_ context.Context, o *CreateOptions) error { create = o; return nil }), "s1")
	if err != nil || create.InputGiven {
		t.Errorf("create without --input: %v %+v", err, create)
	}
	checkErr(t, execute(t, e.F, NewCmdCreate(e.F, nil), ""), `task create needs a session id (see "flmctl session list")`)

	var get *GetOptions
	err = execute(t, e.F, NewCmdGet(e.F, func(_ context.Context, o *GetOptions) error { get = o; return nil }), "s1 7 --raw")
	if err != nil || get.Session != "s1" || get.Task != "7" || !get.Raw || get.Format != "table" {
		t.Errorf("get: %v %+v", err, get)
	}
	checkErr(t, execute(t, e.F, NewCmdGet(e.F, nil), "s1 7 --raw -o json"), "--raw and --output cannot be used together")
	checkErr(t, execute(t, e.F, NewCmdGet(e.F, nil), "s1"), `task get needs a session id and a task id (see "flmctl task list SESSION")`)

	var list *ListOptions
	err = execute(t, e.F, NewCmdList(e.F, func(_ context.Context, o *ListOptions) error { list = o; return nil }), "s1 --state failed --no-headers")
	if err != nil || list.Session != "s1" || list.State != "failed" || !list.NoHeaders {
		t.Errorf("list: %v %+v", err, list)
	}
	checkErr(t, execute(t, e.F, NewCmdList(e.F, nil), "s1 --state done"),
		`invalid argument "done" for "--state" flag: valid values are {pending|running|succeed|failed|cancelled}`)

	var watch *WatchOptions
	err = execute(t, e.F, NewCmdWatch(e.F, func(_ context.Context, o *WatchOptions) error { watch = o; return nil }), "s1 2")
	if err != nil || watch.Session != "s1" || watch.Task != "2" {
		t.Errorf("watch: %v %+v", err, watch)
	}

	var invoke *InvokeOptions
	err = execute(t, e.F, NewCmdInvoke(e.F, func(_ context.Context, o *InvokeOptions) error { invoke = o; return nil }), "s1 --input @f")
	if err != nil || invoke.Session != "s1" || invoke.Input != "@f" || !invoke.InputGiven {
		t.Errorf("invoke: %v %+v", err, invoke)
	}
}

func TestReadInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(path, []byte("file"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		tty   bool
		input string
		given bool
		want  []byte
	}{
		{"flag text", false, "text", true, []byte("text")},
		{"flag file", false, "@" + path, true, []byte("file")},
		{"flag stdin", true, "-", true, []byte("stdin")},
		{"piped stdin", false, "", false, []byte("stdin")},
		{"terminal, no flag", true, "", false, nil},
		{"empty stdin", false, "", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, tt.tty)
			if tt.name != "empty stdin" {
				e.In.WriteString("stdin")
			}
			got, err := readInput(e.F.IOStreams, tt.input, tt.given)
			if err != nil || string(got) != string(tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("readInput = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestTaskRun_NoWorkers(t *testing.T) {
	c, err := local.Start(context.Background(), local.Options{
		// Instances must never start this test binary; tasks here stay pending.
		BuiltinCommand: []string{os.DevNull},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	e := newTestEnv(t, false)
	e.F.Globals.Endpoint = c.Endpoints().Frontend
	t.Cleanup(func() { _ = e.F.Close() })
	ctx := context.Background()
	conn, err := e.F.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "flmping", ID: "s1"}); err != nil {
		t.Fatal(err)
	}
	if err := createRun(ctx, &CreateOptions{IO: e.F.IOStreams, Client: e.F.Client, Session: "s1", Input: "x", InputGiven: true}); err != nil {
		t.Fatal(err)
	}
	if e.Out.String() != "1\n" {
		t.Errorf("create printed %q", e.Out.String())
	}
	e.Out.Reset()
	if err := listRun(ctx, &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Session: "s1", Format: "name"}); err != nil || e.Out.String() != "task/1\n" {
		t.Errorf("list: %v %q", err, e.Out.String())
	}
	err = invokeRun(ctx, &InvokeOptions{IO: e.F.IOStreams, Client: e.F.Client, Session: "nope", InputGiven: true})
	if !errors.Is(err, client.ErrNotFound) {
		t.Errorf("invoke in a missing session: %v", err)
	}
}

func TestFailure(t *testing.T) {
	failed := &client.Task{ID: "3", SessionID: "s", State: client.TaskFailed,
		Events: []client.Event{{Code: int32(client.TaskRunning)}, {Code: int32(client.TaskFailed), Message: "boom"}}}
	if got := failure(failed).Error(); got != `task 3 of session "s" failed: boom` {
		t.Errorf("failed: %s", got)
	}
	cancelled := &client.Task{ID: "4", SessionID: "s", State: client.TaskCancelled}
	if got := failure(cancelled).Error(); got != `task 4 of session "s" was cancelled` {
		t.Errorf("cancelled: %s", got)
	}
}
