package node

import (
	"context"
	"errors"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flmctl/flmctl/internal/cli/clitest"
	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/local"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
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
		{"-o wide --no-headers", "wide", true, ""},
		{"--output json", "json", false, ""},
		{"-o yaml", "yaml", false, ""},
		{"-o name", "name", false, ""},
		{"-o xml", "", false, `unknown output format "xml"; allowed: table, wide, json, yaml, name`},
		{"x", "", false, `too many arguments for "flmctl list": x`},
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

func TestNewCmdGet(t *testing.T) {
	tests := []struct {
		line       string
		wantName   string
		wantFormat string
		wantErr    string
	}{
		{"n1", "n1", "table", ""},
		{"n1 -o wide", "n1", "wide", ""},
		{"n1 --output json", "n1", "json", ""},
		{"-o yaml n1", "n1", "yaml", ""},
		{"n1 -o name", "n1", "name", ""},
		{"", "", "", `node get needs the name of a node (see "flmctl node list")`},
		{"n1 n2", "", "", `too many arguments for "flmctl get": n2`},
		{"n1 -o xml", "", "", `unknown output format "xml"; allowed: table, wide, json, yaml, name`},
		{"n1 --no-headers", "", "", "unknown flag: --no-headers"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, false)
			var got *GetOptions
			err := execute(t, e.F, NewCmdGet(e.F, func(_ context.Context, o *GetOptions) error { got = o; return nil }), tt.line)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if got.Name != tt.wantName || got.Format != tt.wantFormat {
				t.Errorf("options %+v, want name %q, format %q", *got, tt.wantName, tt.wantFormat)
			}
		})
	}
}

// TestNodeRun runs list and get against the embedded cluster, whose one node
// is this machine.
func TestNodeRun(t *testing.T) {
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
	// The cluster's own executor manager registers its node just after
	// Start returns.
	var nodes []*client.Node
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for len(nodes) == 0 {
		select {
		case <-deadline:
			t.Fatal("no node registered within 30s")
		case <-tick.C:
		}
		if nodes, err = conn.ListNodes(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(nodes) != 1 {
		t.Fatalf("%d nodes, want one", len(nodes))
	}
	n := nodes[0]
	pad := func(s string, w int) string { return s + strings.Repeat(" ", w-len(s)) }
	nameW := max(len("NAME"), len(n.Name)) + 3
	capW := max(len("CAPACITY"), len(n.Capacity.String())) + 3
	row := pad(n.Name, nameW) + "Ready   " + pad(n.Capacity.String(), capW) + n.Allocatable.String() + "\n"
	table := pad("NAME", nameW) + "STATE   " + pad("CAPACITY", capW) + "ALLOCATABLE\n" + row

	for _, tty := range []bool{false, true} {
		e := newTestEnv(t, tty)
		e.F.Globals.Endpoint = c.Endpoints().Frontend
		t.Cleanup(func() { _ = e.F.Close() })
		ctx := context.Background()
		run := func(what string, fn func() error) string {
			t.Helper()
			e.Out.Reset()
			if err := fn(); err != nil {
				t.Fatalf("tty=%v %s: %v", tty, what, err)
			}
			return e.Out.String()
		}
		list := func(format string) string {
			return run("list -o "+format, func() error {
				return listRun(ctx, &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: format})
			})
		}
		get := func(format string) string {
			return run("get -o "+format, func() error {
				return getRun(ctx, &GetOptions{IO: e.F.IOStreams, Client: e.F.Client, Name: n.Name, Format: format})
			})
		}
		if diff := cmp.Diff(table, list("table")); diff != "" {
			t.Errorf("tty=%v list (-want +got):\n%s", tty, diff)
		}
		if diff := cmp.Diff(table, get("table")); diff != "" {
			t.Errorf("tty=%v get (-want +got):\n%s", tty, diff)
		}
		if got := list("name"); got != "node/"+n.Name+"\n" {
			t.Errorf("tty=%v list -o name: %q", tty, got)
		}
		// The heartbeat time: relative on a terminal, RFC 3339 otherwise.
		wide := strings.Split(list("wide"), "\n")
		wantRow := []string{n.Name, "Ready", n.Capacity.String(), n.Allocatable.String(), n.Hostname, n.OS, n.Arch}
		beat := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
		if tty {
			beat = regexp.MustCompile(`^(just now|\d+s ago)$`)
		}
		if len(wide) != 3 || !strings.HasSuffix(wide[0], "   ADDRESSES   LAST HEARTBEAT") {
			t.Errorf("tty=%v list -o wide:\n%s", tty, strings.Join(wide, "\n"))
		} else if f := strings.Fields(wide[1]); len(f) < 8 || !cmp.Equal(f[:7], wantRow) || !beat.MatchString(strings.Join(f[7:], " ")) {
			t.Errorf("tty=%v list -o wide:\n%s", tty, strings.Join(wide, "\n"))
		}
		if got := list("json"); !strings.HasPrefix(got, "[\n  {\n    \"metadata\": {\n      \"id\": \""+n.Name+"\"") {
			t.Errorf("tty=%v list -o json:\n%s", tty, got)
		}
		if got := get("json"); !strings.HasPrefix(got, "{\n  \"metadata\": {\n    \"id\": \""+n.Name+"\"") {
			t.Errorf("tty=%v get -o json:\n%s", tty, got)
		}
		if got := get("yaml"); !strings.HasPrefix(got, "metadata:\n  id: "+n.Name+"\n") || !strings.Contains(got, "state: Ready\n") {
			t.Errorf("tty=%v get -o yaml:\n%s", tty, got)
		}
		if e.ErrOut.Len() != 0 {
			t.Errorf("tty=%v stderr %q", tty, e.ErrOut.String())
		}
		err := getRun(ctx, &GetOptions{IO: e.F.IOStreams, Client: e.F.Client, Name: "nope", Format: "table"})
		if !errors.Is(err, client.ErrNotFound) {
			t.Errorf("tty=%v get of a missing node: %v", tty, err)
		}
	}
}

// stubFrontend serves ListNodes and GetNode from a fixed set of nodes, for
// what the embedded cluster does not report (heartbeat times, addresses).
type stubFrontend struct {
	flamev1.UnimplementedFrontendServer
	nodes []*flamev1.Node
}

func (s *stubFrontend) ListNodes(context.Context, *flamev1.ListNodesRequest) (*flamev1.NodeList, error) {
	return &flamev1.NodeList{Nodes: s.nodes}, nil
}

func (s *stubFrontend) GetNode(_ context.Context, req *flamev1.GetNodeRequest) (*flamev1.GetNodeResponse, error) {
	for _, n := range s.nodes {
		if n.GetMetadata().GetName() == req.GetName() {
			return &flamev1.GetNodeResponse{Node: n}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "node %s not found", req.GetName())
}

// startStub serves s on a free loopback port and returns a test Factory
// dialing it.
func startStub(t *testing.T, s *stubFrontend, tty bool) *clitest.Env {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	flamev1.RegisterFrontendServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	e := newTestEnv(t, tty)
	e.F.Globals.Endpoint = "http://" + lis.Addr().String()
	t.Cleanup(func() { _ = e.F.Close() })
	return e
}

func stubNode(name string, state flamev1.NodeState, heartbeat time.Time, addrs ...*flamev1.NodeAddress) *flamev1.Node {
	res := &flamev1.ResourceRequirement{Cpu: 8, Memory: 16 << 30}
	var hb int64
	if !heartbeat.IsZero() {
		hb = heartbeat.Unix()
	}
	return &flamev1.Node{
		Metadata: &flamev1.Metadata{Id: name, Name: name},
		Spec:     &flamev1.NodeSpec{Hostname: name + ".example"},
		Status: &flamev1.NodeStatus{State: state, Capacity: res, Allocatable: res,
			Info: &flamev1.NodeInfo{Arch: "x86_64", Os: "linux"}, Addresses: addrs, LastHeartbeatTime: hb},
	}
}

// TestNodeRun_Stub checks what the embedded cluster leaves empty: the
// heartbeat column is relative to now on a terminal and RFC 3339 in UTC
// otherwise, "<none>" when there is none; addresses are listed type=address.
func TestNodeRun_Stub(t *testing.T) {
	fixed := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("CEST", 2*3600))
	const (
		table = `NAME     STATE     CAPACITY              ALLOCATABLE
n1       Ready     cpu=8,mem=16g,gpu=0   cpu=8,mem=16g,gpu=0
node-2   Unknown   cpu=8,mem=16g,gpu=0   cpu=8,mem=16g,gpu=0
`
		wideHeader = "NAME     STATE     CAPACITY              ALLOCATABLE           HOSTNAME         OS      ARCH     ADDRESSES                         LAST HEARTBEAT\n"
		wideN1     = "n1       Ready     cpu=8,mem=16g,gpu=0   cpu=8,mem=16g,gpu=0   n1.example       linux   x86_64   InternalIP=10.0.0.7,Hostname=n1   "
		wideNode2  = "node-2   Unknown   cpu=8,mem=16g,gpu=0   cpu=8,mem=16g,gpu=0   node-2.example   linux   x86_64                                     <none>\n"
	)
	tests := []struct {
		name      string
		tty       bool
		get       bool // node get n1 instead of node list
		format    string
		noHeaders bool
		want      string
	}{
		{name: "table", format: "table", want: table},
		{name: "table tty", tty: true, format: "table", want: table},
		{name: "no headers", format: "table", noHeaders: true, want: `n1       Ready     cpu=8,mem=16g,gpu=0   cpu=8,mem=16g,gpu=0
node-2   Unknown   cpu=8,mem=16g,gpu=0   cpu=8,mem=16g,gpu=0
`},
		{name: "wide", format: "wide", want: wideHeader + wideN1 + "2024-05-06T05:08:09Z\n" + wideNode2},
		{name: "wide tty", tty: true, format: "wide", want: wideHeader + wideN1 + "3m ago\n" + wideNode2},
		{name: "name", format: "name", want: "node/n1\nnode/node-2\n"},
		{name: "get wide", get: true, format: "wide",
			want: "NAME   STATE   CAPACITY              ALLOCATABLE           HOSTNAME     OS      ARCH     ADDRESSES                         LAST HEARTBEAT\n" +
				"n1     Ready   cpu=8,mem=16g,gpu=0   cpu=8,mem=16g,gpu=0   n1.example   linux   x86_64   InternalIP=10.0.0.7,Hostname=n1   2024-05-06T05:08:09Z\n"},
		{name: "get wide tty", tty: true, get: true, format: "wide",
			want: "NAME   STATE   CAPACITY              ALLOCATABLE           HOSTNAME     OS      ARCH     ADDRESSES                         LAST HEARTBEAT\n" +
				"n1     Ready   cpu=8,mem=16g,gpu=0   cpu=8,mem=16g,gpu=0   n1.example   linux   x86_64   InternalIP=10.0.0.7,Hostname=n1   3m ago\n"},
		{name: "get name", get: true, format: "name", want: "node/n1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hb := fixed
			if tt.tty {
				// Whole seconds on the wire: between 3m1s and 3m2s ago.
				hb = time.Now().Add(-3*time.Minute - time.Second)
			}
			e := startStub(t, &stubFrontend{nodes: []*flamev1.Node{
				stubNode("n1", flamev1.NodeState_Ready, hb,
					&flamev1.NodeAddress{Type: "InternalIP", Address: "10.0.0.7"}, &flamev1.NodeAddress{Type: "Hostname", Address: "n1"}),
				stubNode("node-2", flamev1.NodeState_Unknown, time.Time{}),
			}}, tt.tty)
			var err error
			if tt.get {
				err = getRun(context.Background(), &GetOptions{IO: e.F.IOStreams, Client: e.F.Client, Name: "n1", Format: tt.format})
			} else {
				err = listRun(context.Background(), &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: tt.format, NoHeaders: tt.noHeaders})
			}
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

// TestNodeRun_StubStructured checks that JSON and YAML are the same on and
// off a terminal: the heartbeat stays seconds since the epoch.
func TestNodeRun_StubStructured(t *testing.T) {
	hb := time.Date(2024, 5, 6, 5, 8, 9, 0, time.UTC)
	wantJSON := `{
  "metadata": {
    "id": "n1",
    "name": "n1"
  },
  "spec": {
    "hostname": "n1.example"
  },
  "status": {
    "state": "Ready",
    "capacity": {
      "cpu": "8",
      "memory": "17179869184",
      "gpu": 0
    },
    "allocatable": {
      "cpu": "8",
      "memory": "17179869184",
      "gpu": 0
    },
    "info": {
      "arch": "x86_64",
      "os": "linux"
    },
    "addresses": [
      {
        "type": "InternalIP",
        "address": "10.0.0.7"
      }
    ],
    "last_heartbeat_time": "1714972089"
  }
}
`
	for _, tty := range []bool{false, true} {
		e := startStub(t, &stubFrontend{nodes: []*flamev1.Node{
			stubNode("n1", flamev1.NodeState_Ready, hb, &flamev1.NodeAddress{Type: "InternalIP", Address: "10.0.0.7"}),
		}}, tty)
		ctx := context.Background()
		if err := getRun(ctx, &GetOptions{IO: e.F.IOStreams, Client: e.F.Client, Name: "n1", Format: "json"}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantJSON, e.Out.String()); diff != "" {
			t.Errorf("tty=%v get -o json (-want +got):\n%s", tty, diff)
		}
		e.Out.Reset()
		if err := listRun(ctx, &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: "yaml"}); err != nil {
			t.Fatal(err)
		}
		if y := e.Out.String(); !strings.HasPrefix(y, "- metadata:\n    id: n1\n") || !strings.Contains(y, "    last_heartbeat_time: \"1714972089\"\n") {
			t.Errorf("tty=%v list -o yaml:\n%s", tty, y)
		}
		err := getRun(ctx, &GetOptions{IO: e.F.IOStreams, Client: e.F.Client, Name: "gone", Format: "table"})
		if !errors.Is(err, client.ErrNotFound) {
			t.Errorf("tty=%v get of a missing node: %v", tty, err)
		}
	}
}

// TestListRun_NoNodes: no rows is not a failure but a message for stderr;
// structured output is an empty list.
func TestListRun_NoNodes(t *testing.T) {
	e := startStub(t, &stubFrontend{}, false)
	ctx := context.Background()
	err := listRun(ctx, &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: "table"})
	var nr *cmdutil.NoResultsError
	if !errors.As(err, &nr) || err.Error() != "no nodes have registered with the cluster" {
		t.Errorf("got %v, want *NoResultsError", err)
	}
	if err := listRun(ctx, &ListOptions{IO: e.F.IOStreams, Client: e.F.Client, Format: "json"}); err != nil || e.Out.String() != "[]\n" {
		t.Errorf("json: %v %q", err, e.Out.String())
	}
}
