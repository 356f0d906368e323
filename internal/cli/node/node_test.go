package node

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/local"
)

func TestNewCmdNode(t *testing.T) {
	e := newTestEnv(t, false)
	var list *ListOptions
	if err := execute(t, e.F, NewCmdList(e.F, func(_ context.Context, o *ListOptions) error { list = o; return nil }), "-o wide --no-headers"); err != nil || list.Format != "wide" || !list.NoHeaders {
		t.Errorf("list: %v %+v", err, list)
	}
	checkErr(t, execute(t, e.F, NewCmdList(e.F, nil), "x"), `too many arguments for "flmctl list": x`)
	var get *GetOptions
	if err := execute(t, e.F, NewCmdGet(e.F, func(_ context.Context, o *GetOptions) error { get = o; return nil }), "n1 -o json"); err != nil || get.Name != "n1" || get.Format != "json" {
		t.Errorf("get: %v %+v", err, get)
	}
	checkErr(t, execute(t, e.F, NewCmdGet(e.F, nil), ""), `node get needs the name of a node (see "flmctl node list")`)
}

func TestNodeRun(t *testing.T) {
	c, err := local.Start(context.Background(), local.Options{BuiltinCommand: []string{os.DevNull}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	e := newTestEnv(t, false)
	e.F.Globals.Endpoint = c.Endpoints().Frontend
	t.Cleanup(func() { _ = e.F.Close() })
	ctx := context.Background()
	if err := listRun(ctx, &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: "name"}); err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(strings.TrimSpace(e.Out.String()), "node/")
	if name == "" || strings.Contains(name, "\n") {
		t.Fatalf("list -o name printed %q, want one node", e.Out.String())
	}
	e.Out.Reset()
	if err := getRun(ctx, &GetOptions{IO: e.F.IOStreams, Client: e.F.Client, Name: name, Format: "table"}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.Out.String(), "NAME ") || !strings.Contains(e.Out.String(), "Ready") {
		t.Errorf("get printed %q", e.Out.String())
	}
	if err := getRun(ctx, &GetOptions{IO: e.F.IOStreams, Client: e.F.Client, Name: "nope", Format: "table"}); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("get of a missing node: %v", err)
	}
}
