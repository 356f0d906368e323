package executor

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/pkg/local"
)

func TestNewCmdList(t *testing.T) {
	e := newTestEnv(t, false)
	var list *ListOptions
	if err := execute(t, e.F, NewCmdList(e.F, func(_ context.Context, o *ListOptions) error { list = o; return nil }), "-o yaml"); err != nil || list.Format != "yaml" {
		t.Errorf("list: %v %+v", err, list)
	}
	checkErr(t, execute(t, e.F, NewCmdList(e.F, nil), "-o xml"), `unknown output format "xml"; allowed: table, wide, json, yaml, name`)
}

func TestListRun_Empty(t *testing.T) {
	c, err := local.Start(context.Background(), local.Options{BuiltinCommand: []string{os.DevNull}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	e := newTestEnv(t, false)
	e.F.Globals.Endpoint = c.Endpoints().Frontend
	t.Cleanup(func() { _ = e.F.Close() })
	ctx := context.Background()
	err = listRun(ctx, &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: "table"})
	var nr *cmdutil.NoResultsError
	if !errors.As(err, &nr) {
		t.Fatalf("got %v, want *NoResultsError", err)
	}
	if err := listRun(ctx, &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: "json"}); err != nil || e.Out.String() != "[]\n" {
		t.Errorf("json: %v %q", err, e.Out.String())
	}
}
