package cluster

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/contexts"
)

func TestNewCmdStart(t *testing.T) {
	// The defaults are upstream's ports (DefaultListen, DefaultCacheListen); parsed, never bound.
	defaults := StartOptions{Listen: DefaultListen, CacheListen: DefaultCacheListen, Storage: "sqlite", InstanceWire: "auto", LogLevel: "warn"}
	with := func(change func(*StartOptions)) StartOptions {
		o := defaults
		change(&o)
		return o
	}
	const joinErr = "--join runs only a node agent: it takes --data-dir, --log-level, --cache-advertise and --instance-wire, not "
	tests := []struct {
		line    string
		want    StartOptions
		wantErr string
	}{
		{"", defaults, ""},
		{"--detach --listen 127.0.0.1:0 --cache-listen off --backend-listen 127.0.0.1:0 --data-dir /tmp/fl --storage none --log-level debug",
			with(func(o *StartOptions) {
				o.Detach, o.Listen, o.CacheListen, o.BackendListen, o.DataDir, o.Storage, o.LogLevel = true, "127.0.0.1:0", "off", "127.0.0.1:0", "/tmp/fl", "none", "debug"
			}), ""},
		{"-d --cache-advertise grpc://cache:9090 --cache-storage none", with(func(o *StartOptions) {
			o.Detach, o.CacheAdvertise, o.CacheStorage = true, "grpc://cache:9090", "none"
		}), ""},
		{"-o json", with(func(o *StartOptions) { o.Format = "json" }), ""},
		{"--output yaml", with(func(o *StartOptions) { o.Format = "yaml" }), ""},
		{"--join http://10.0.0.5:8081 --data-dir /tmp/n --log-level info", with(func(o *StartOptions) {
			o.Join, o.DataDir, o.LogLevel = "http://10.0.0.5:8081", "/tmp/n", "info"
		}), ""},
		// --storage sqlite is the default, so it is no conflict.
		{"--join http://h:8081 --storage sqlite", with(func(o *StartOptions) { o.Join = "http://h:8081" }), ""},
		{"--join http://h:8081 --detach", StartOptions{}, joinErr + "--detach"},
		{"--join http://h:8081 --listen 127.0.0.1:1 --storage none", StartOptions{}, joinErr + "--listen, --storage"},
		{"--join http://h:8081 --backend-listen :1 --cache-listen :2 --cache-advertise grpc://c:2 --cache-storage none",
			StartOptions{}, joinErr + "--backend-listen, --cache-listen, --cache-storage"},
		// A joined node tells its instances where the cluster's cache is.
		{"--join http://h:8081 --cache-advertise grpc://c:2", with(func(o *StartOptions) { o.Join, o.CacheAdvertise = "http://h:8081", "grpc://c:2" }), ""},
		{"--join http://h:8081 --cache-max-memory 2G --cache-compress", StartOptions{}, joinErr + "--cache-max-memory, --cache-compress"},
		{"--join http://h:8081 -o json", StartOptions{}, joinErr + "--output"},
		{"--cache-max-memory 512M --cache-compress", with(func(o *StartOptions) { o.CacheMaxMemory, o.CacheCompress = "512M", true }), ""},
		{"-o table", StartOptions{}, `unknown output format "table"; allowed: json, yaml`},
		{"--log-level loud", StartOptions{}, `invalid argument "loud" for "--log-level" flag: valid values are {debug|info|warn|error}`},
		{"--storage etcd", StartOptions{}, `invalid argument "etcd" for "--storage" flag: valid values are {sqlite|none}`},
		{"--instance-wire grpc", with(func(o *StartOptions) { o.InstanceWire = "grpc" }), ""},
		{"--join http://h:8081 --instance-wire grpc", with(func(o *StartOptions) { o.Join, o.InstanceWire = "http://h:8081", "grpc" }), ""},
		{"--instance-wire http2", StartOptions{}, `invalid argument "http2" for "--instance-wire" flag: valid values are {auto|grpc}`},
		{"now", StartOptions{}, `too many arguments for "flmctl start": now`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, false)
			var got *StartOptions
			err := execute(t, e.F, NewCmdStart(e.F, func(_ context.Context, o *StartOptions) error { got = o; return nil }), tt.line)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if got.IO != e.F.IOStreams || got.Factory != e.F || got.ConfigPath == nil || got.exitOnSecondSignal {
				t.Errorf("dependencies not set from the Factory: %+v", *got)
			}
			got.IO, got.Factory, got.ConfigPath = nil, nil, nil
			if diff := cmp.Diff(tt.want, *got, cmp.AllowUnexported(StartOptions{})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewCmdStatus(t *testing.T) {
	tests := []struct {
		line       string
		wantDir    string
		wantFormat string
		wantErr    string
	}{
		{"", "", "", ""},
		{"--data-dir /tmp/fl -o json", "/tmp/fl", "json", ""},
		{"--output yaml", "", "yaml", ""},
		{"-o name", "", "", `unknown output format "name"; allowed: json, yaml`},
		{"local", "", "", `too many arguments for "flmctl status": local`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, false)
			var got *StatusOptions
			err := execute(t, e.F, NewCmdStatus(e.F, func(_ context.Context, o *StatusOptions) error { got = o; return nil }), tt.line)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if got.DataDir != tt.wantDir || got.Format != tt.wantFormat || got.IO != e.F.IOStreams || got.Factory != e.F {
				t.Errorf("options %+v", *got)
			}
		})
	}
}

func TestNewCmdStop(t *testing.T) {
	tests := []struct {
		line        string
		wantDir     string
		wantTimeout time.Duration
		wantErr     string
	}{
		{"", "", 30 * time.Second, ""},
		{"--data-dir /tmp/fl --timeout 5s", "/tmp/fl", 5 * time.Second, ""},
		{"--timeout soon", "", 0, `invalid argument "soon" for "--timeout" flag: time: invalid duration "soon"`},
		{"1234", "", 0, `too many arguments for "flmctl stop": 1234`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, false)
			var got *StopOptions
			err := execute(t, e.F, NewCmdStop(e.F, func(_ context.Context, o *StopOptions) error { got = o; return nil }), tt.line)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if got.DataDir != tt.wantDir || got.Timeout != tt.wantTimeout || got.IO != e.F.IOStreams || got.Factory != e.F {
				t.Errorf("options %+v", *got)
			}
		})
	}
}

func TestPrintState(t *testing.T) {
	full := state{PID: 42, Frontend: "http://127.0.0.1:8080", Backend: "http://127.0.0.1:8081", Cache: "grpc://127.0.0.1:9090",
		DataDir: "/home/u/.flame/cluster", Storage: "sqlite"}
	bare := state{PID: 7, Frontend: "http://127.0.0.1:1", DataDir: "/d", Storage: "none"}
	tests := []struct {
		name   string
		st     state
		format string
		want   string
	}{
		{"banner", full, "", `Flame cluster running (pid 42)
  frontend:  http://127.0.0.1:8080
  backend:   http://127.0.0.1:8081
  cache:     grpc://127.0.0.1:9090
  data:      /home/u/.flame/cluster (sqlite)
`},
		{"banner without backend and cache", bare, "", `Flame cluster running (pid 7)
  frontend:  http://127.0.0.1:1
  data:      /d (none)
`},
		{"json", full, "json", `{
  "pid": 42,
  "frontend": "http://127.0.0.1:8080",
  "backend": "http://127.0.0.1:8081",
  "cache": "grpc://127.0.0.1:9090",
  "data_dir": "/home/u/.flame/cluster",
  "storage": "sqlite"
}
`},
		{"json without backend and cache", bare, "json", `{
  "pid": 7,
  "frontend": "http://127.0.0.1:1",
  "data_dir": "/d",
  "storage": "none"
}
`},
		{"yaml", full, "yaml", `backend: http://127.0.0.1:8081
cache: grpc://127.0.0.1:9090
data_dir: /home/u/.flame/cluster
frontend: http://127.0.0.1:8080
pid: 42
storage: sqlite
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := printState(&b, tt.format, tt.st); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestStartRun starts a cluster in-process on free ports, checks it from
// "cluster status" on and off a terminal, and stops it as Ctrl-C does.
func TestStartRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	e := newTestEnv(t, false)
	var opts *StartOptions
	err := execute(t, e.F, NewCmdStart(e.F, func(_ context.Context, o *StartOptions) error { opts = o; return nil }),
		"--listen 127.0.0.1:0 --backend-listen off --cache-listen 127.0.0.1:0 --data-dir "+dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- startRun(ctx, opts) }()

	// Wait until the cluster has recorded itself, or has failed.
	var st state
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for ready := false; !ready; {
		select {
		case err := <-done:
			t.Fatalf("start returned early: %v; stderr %q", err, e.ErrOut.String())
		case <-deadline:
			t.Fatal("the cluster did not write its state within 60s")
		case <-tick.C:
			st, err = readState(dir)
			ready = err == nil
		}
	}
	if st.PID != os.Getpid() || st.DataDir != dir || st.Storage != "sqlite" || st.Backend != "" ||
		!strings.HasPrefix(st.Frontend, "http://127.0.0.1:") || !strings.HasPrefix(st.Cache, "grpc://127.0.0.1:") {
		t.Errorf("state %+v", st)
	}

	banner := "Flame cluster running (pid " + strconv.Itoa(st.PID) + ")\n" +
		"  frontend:  " + st.Frontend + "\n" +
		"  cache:     " + st.Cache + "\n" +
		"  data:      " + dir + " (sqlite)\n"
	for _, tty := range []bool{false, true} {
		for format, want := range map[string]string{
			"":     banner,
			"json": `{` + "\n" + `  "pid": ` + strconv.Itoa(st.PID) + ",\n" + `  "frontend": "` + st.Frontend + `",` + "\n" + `  "cache": "` + st.Cache + `",` + "\n" + `  "data_dir": "` + dir + `",` + "\n" + `  "storage": "sqlite"` + "\n}\n",
			"yaml": "cache: " + st.Cache + "\ndata_dir: " + dir + "\nfrontend: " + st.Frontend + "\npid: " + strconv.Itoa(st.PID) + "\nstorage: sqlite\n",
		} {
			s := newTestEnv(t, tty)
			if err := statusRun(ctx, &StatusOptions{IO: s.F.IOStreams, Factory: s.F, DataDir: dir, Format: format}); err != nil {
				t.Fatalf("status tty=%v -o %q: %v", tty, format, err)
			}
			if diff := cmp.Diff(want, s.Out.String()); diff != "" {
				t.Errorf("status tty=%v -o %q (-want +got):\n%s", tty, format, diff)
			}
			if s.ErrOut.Len() != 0 {
				t.Errorf("status tty=%v -o %q: stderr %q", tty, format, s.ErrOut.String())
			}
		}
	}

	// A second cluster on the same data directory is refused.
	second := newTestEnv(t, false)
	err = startRun(ctx, &StartOptions{IO: second.F.IOStreams, Factory: second.F, ConfigPath: second.F.ConfigPath,
		Listen: "127.0.0.1:0", CacheListen: "off", DataDir: dir, Storage: "none", LogLevel: "warn"})
	if err == nil || !strings.Contains(err.Error(), "a cluster is already running with data directory "+dir) {
		t.Errorf("second start: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("start: %v", err)
	}
	if diff := cmp.Diff(banner, e.Out.String()); diff != "" {
		t.Errorf("start stdout (-want +got):\n%s", diff)
	}
	config, err := e.F.ConfigPath()
	if err != nil {
		t.Fatal(err)
	}
	wantErr := "Added context \"local\" (" + st.Frontend + ") to " + config + " and made it the current context.\n" +
		"Press Ctrl-C to stop.\nStopping the cluster...\n"
	if diff := cmp.Diff(wantErr, e.ErrOut.String()); diff != "" {
		t.Errorf("start stderr (-want +got):\n%s", diff)
	}
	cfg, err := contexts.Load(config)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := cfg.Context("local"); err != nil || c.Cluster.Endpoint != st.Frontend || c.Cache == nil || c.Cache.Endpoint != st.Cache || cfg.CurrentContext != "local" {
		t.Errorf("flame.yaml: %+v, %v", cfg, err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the state file outlived the cluster: %v", err)
	}
	s := newTestEnv(t, false)
	err = statusRun(context.Background(), &StatusOptions{IO: s.F.IOStreams, Factory: s.F, DataDir: dir})
	if !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), "no cluster is running with data directory "+dir) {
		t.Errorf("status after the stop: %v", err)
	}
}

func TestStatusStopRun_NotRunning(t *testing.T) {
	dir := t.TempDir()
	e := newTestEnv(t, false)
	want := "no cluster is running with data directory " + dir + `; start one with "flmctl cluster start"`
	err := statusRun(context.Background(), &StatusOptions{IO: e.F.IOStreams, Factory: e.F, DataDir: dir})
	if !errors.Is(err, client.ErrUnavailable) || err.Error() != want {
		t.Errorf("status: %v", err)
	}
	err = stopRun(context.Background(), &StopOptions{IO: e.F.IOStreams, Factory: e.F, DataDir: dir, Timeout: time.Second})
	if !errors.Is(err, client.ErrUnavailable) || err.Error() != want {
		t.Errorf("stop: %v", err)
	}

	// The default data directory is under HOME.
	err = statusRun(context.Background(), &StatusOptions{IO: e.F.IOStreams, Factory: e.F})
	home, _ := e.F.LookupEnv("HOME")
	if !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), filepath.Join(home, ".flame", "cluster")) {
		t.Errorf("status with the default data directory: %v", err)
	}

	// A state file whose process is gone is stale, and removed.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	if err := writeState(dir, state{PID: gone.Process.Pid, Frontend: "http://127.0.0.1:1", DataDir: dir, Storage: "none"}); err != nil {
		t.Fatal(err)
	}
	if err := statusRun(context.Background(), &StatusOptions{IO: e.F.IOStreams, Factory: e.F, DataDir: dir}); err == nil || err.Error() != want {
		t.Errorf("status with a stale state file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale state file is still there: %v", err)
	}
	if e.Out.Len() != 0 {
		t.Errorf("stdout %q", e.Out.String())
	}
}

// TestStopRun stops a process recorded as a detached cluster.
func TestStopRun(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command")
	}
	for _, tty := range []bool{false, true} {
		dir := t.TempDir()
		proc := exec.Command(sleep, "300")
		if err := proc.Start(); err != nil {
			t.Fatal(err)
		}
		// Reap it as soon as it ends, as init does for a detached cluster.
		exited := make(chan struct{})
		go func() { _ = proc.Wait(); close(exited) }()
		t.Cleanup(func() { _ = proc.Process.Kill(); <-exited })
		if err := writeState(dir, state{PID: proc.Process.Pid, Frontend: "http://127.0.0.1:1", DataDir: dir, Storage: "none"}); err != nil {
			t.Fatal(err)
		}
		e := newTestEnv(t, tty)
		if err := stopRun(context.Background(), &StopOptions{IO: e.F.IOStreams, Factory: e.F, DataDir: dir, Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-exited:
		default:
			t.Error("stop returned before the process ended")
		}
		if want := "Stopped the cluster (pid " + strconv.Itoa(proc.Process.Pid) + ").\n"; e.ErrOut.String() != want || e.Out.Len() != 0 {
			t.Errorf("tty=%v: stdout %q, stderr %q; want stderr %q", tty, e.Out.String(), e.ErrOut.String(), want)
		}
	}
}
