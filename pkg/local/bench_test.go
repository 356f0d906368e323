package local_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flmctl/flmctl/internal/instancewire"
	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/local"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// The benchmarks below measure the embedded cluster with real instance
// processes (testdata/noopsvc, a no-op Go service) next to two baselines
// measured in the same run: a raw gRPC unary round trip on loopback, and the
// raw calls to instance processes that every task needs:
//
//	go test -run '^$' -bench . -benchtime 3s ./pkg/local/

type emptyFrontend struct {
	flamev1.UnimplementedFrontendServer
}

func (emptyFrontend) ListApplication(context.Context, *flamev1.ListApplicationRequest) (*flamev1.ApplicationList, error) {
	return &flamev1.ApplicationList{}, nil
}

// BenchmarkRawUnary is the baseline: one gRPC unary call over loopback TCP
// to a server that does nothing.
func BenchmarkRawUnary(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := grpc.NewServer()
	flamev1.RegisterFrontendServer(s, emptyFrontend{})
	go s.Serve(l)
	defer s.Stop()
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	fc := flamev1.NewFrontendClient(cc)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, err := fc.ListApplication(ctx, &flamev1.ListApplicationRequest{}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	reportP50(b, lat)
}

// BenchmarkRawInstance is the second baseline: the one cross-process hop
// every task makes, a no-op OnTaskInvoke to a noopsvc instance process over
// its Unix socket, with nothing of the cluster in between, over gRPC and
// over the framed wire (internal/instancewire) that the cluster uses with
// pkg/service instances. "seq" is one call at a time (its p50 is the floor
// under a single task's latency, next to RawUnary's in-process round
// trip); "parallel" calls 4 instances at once, one call at a time each, as
// the cluster runs tasks in BenchmarkThroughput (its tasks/s is a ceiling
// over the cluster's, whose tasks also need the client's call and the
// cluster's work).
func BenchmarkRawInstance(b *testing.B) {
	bin, err := noopService()
	if err != nil {
		b.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "rawinst")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	const instances = 4
	grpcClients := make([]flamev1.InstanceClient, instances)
	framedClients := make([]flamev1.InstanceClient, instances)
	for i := range instances {
		sock := filepath.Join(dir, strconv.Itoa(i)+".sock")
		fsock := filepath.Join(dir, strconv.Itoa(i)+".fsock")
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "FLAME_INSTANCE_ENDPOINT="+sock, instancewire.EndpointEnv+"="+fsock)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Close()
		grpcClients[i] = flamev1.NewInstanceClient(cc)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err = grpcClients[i].OnSessionEnter(ctx, &flamev1.SessionContext{SessionId: "s"}, grpc.WaitForReady(true))
		if err == nil { // the framed socket exists once the gRPC one serves
			var fc *instancewire.Client
			fc, err = instancewire.Dial(ctx, fsock)
			if err == nil {
				defer fc.Close()
				framedClients[i] = fc
			}
		}
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, wire := range []struct {
		prefix  string
		clients []flamev1.InstanceClient
	}{{"", grpcClients}, {"framed-", framedClients}} {
		benchInstanceCalls(b, wire.prefix, wire.clients)
	}
}

// benchInstanceCalls runs BenchmarkRawInstance's "seq" and "parallel" on
// clients, the names prefixed with prefix.
func benchInstanceCalls(b *testing.B, prefix string, clients []flamev1.InstanceClient) {
	tc := &flamev1.TaskContext{TaskId: "1", SessionId: "s"}
	ctx := context.Background()
	b.Run(prefix+"seq", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			t0 := time.Now()
			if _, err := clients[0].OnTaskInvoke(ctx, tc); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		reportP50(b, lat)
	})
	b.Run(prefix+"parallel", func(b *testing.B) {
		var next atomic.Int64
		var wg sync.WaitGroup
		t0 := time.Now()
		for _, c := range clients {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					if _, err := c.OnTaskInvoke(ctx, tc); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "tasks/s")
	})
}

func reportP50(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
}

// benchCluster starts a cluster with storage, registers the noop
// application with appEnv, and opens a session whose instances are running.
// grpcOnly calls the instances over gRPC instead of the framed wire.
func benchCluster(b *testing.B, storage string, grpcOnly bool, appEnv ...string) (*client.Connection, *client.Session) {
	b.Helper()
	ctx := context.Background()
	opts := local.Options{Storage: storage, BackendAddr: "off", InstanceGRPCOnly: grpcOnly}
	if storage == local.StorageSQLite {
		opts.DataDir = b.TempDir()
	}
	// The goroutines of the cluster and of the connection inherit a
	// profiler label naming the store, so that a profile of
	// BenchmarkDurableShare splits by cluster (go tool pprof -tagfocus
	// store=sqlite).
	var c *local.Cluster
	var conn *client.Connection
	var err error
	pprof.Do(ctx, pprof.Labels("store", storage), func(ctx context.Context) {
		if c, err = local.Start(ctx, opts); err != nil {
			return
		}
		b.Cleanup(c.Stop)
		conn, err = client.Connect(ctx, c.Endpoints().Frontend, client.WithMaxWatchStreams(512))
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	registerBenchApp(b, conn, appEnv...)
	ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "noop", ResReq: &client.ResourceRequirement{}})
	if err != nil {
		b.Fatal(err)
	}
	// Warm up: the instances are started.
	for range 50 {
		if _, err := ssn.Invoke(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
	return conn, ssn
}

// noopService builds testdata/noopsvc, the smallest Go service, once per
// benchmark binary: instances are then as light as a user's Go service, not
// this whole test binary.
var noopService = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "noopsvc")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "noopsvc")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/noopsvc").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./testdata/noopsvc: %v\n%s", err, out)
	}
	return bin, nil
})

func registerBenchApp(b *testing.B, conn *client.Connection, env ...string) {
	bin, err := noopService()
	if err != nil {
		b.Fatal(err)
	}
	attrs := client.ApplicationAttributes{Command: bin, Environments: map[string]string{}}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		attrs.Environments[k] = v
	}
	if err := conn.RegisterApplication(context.Background(), "noop", attrs); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkProcessStart is the floor under BenchmarkFirstResult on this
// machine: starting a program and waiting for it to exit.
func BenchmarkProcessStart(b *testing.B) {
	bin, err := noopService()
	if err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		// Without FLAME_INSTANCE_ENDPOINT the service exits at once, after
		// the Go runtime and its packages have started.
		cmd := exec.Command(bin)
		cmd.Env = []string{}
		_ = cmd.Run()
		lat = append(lat, time.Since(t0))
	}
	reportP50(b, lat)
}

// BenchmarkThroughput runs no-op tasks with many in flight and reports
// tasks/s, with the in-memory and the durable store; with the in-memory
// store and the instances called over gRPC (as services of other SDKs
// are); and with instances run as pkg/service advises for services of many
// short tasks (GOMAXPROCS=1 in the application's environment).
func BenchmarkThroughput(b *testing.B) {
	for _, bc := range []struct {
		name, storage string
		grpcOnly      bool
		env           []string
	}{
		{local.StorageNone, local.StorageNone, false, nil},
		{local.StorageSQLite, local.StorageSQLite, false, nil},
		{"none-grpc", local.StorageNone, true, nil},
		{"none-gomaxprocs1", local.StorageNone, false, []string{"GOMAXPROCS=1"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, ssn := benchCluster(b, bc.storage, bc.grpcOnly, bc.env...)
			b.ResetTimer()
			cpu0 := benchCPU()
			elapsed := invokeMany(context.Background(), b, ssn, b.N)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tasks/s")
			cpu1 := benchCPU()
			b.ReportMetric(float64((cpu1.self-cpu0.self).Microseconds())/float64(b.N), "cpu-µs/task")
			b.ReportMetric(float64((cpu1.instances-cpu0.instances).Microseconds())/float64(b.N), "inst-cpu-µs/task")
			if total := cpu1.machine - cpu0.machine; total > 0 {
				b.ReportMetric(100*float64(cpu1.steal-cpu0.steal)/float64(total), "steal-%")
			}
		})
	}
}

// invokeMany runs n no-op tasks through ssn, 256 in flight, and returns how
// long they took. Its goroutines carry ctx's profiler labels.
func invokeMany(ctx context.Context, b *testing.B, ssn *client.Session, n int) time.Duration {
	const inFlight = 256
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range inFlight {
		wg.Go(func() {
			pprof.SetGoroutineLabels(ctx)
			for next.Add(1) <= int64(n) {
				if _, err := ssn.Invoke(ctx, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(t0)
}

// BenchmarkDurableShare measures the durable store's throughput as a share of
// the in-memory store's. Each varies by a factor of two over minutes on a
// shared machine, so separate runs compare different machines: here both
// clusters run side by side and take turns, rounds of b.N/8 tasks each,
// and each total is the sum of its rounds. One op is a task on each cluster,
// so ns/op is the time of both; read the tasks/s.
func BenchmarkDurableShare(b *testing.B) {
	const rounds = 8
	_, memory := benchCluster(b, local.StorageNone, false)
	_, durable := benchCluster(b, local.StorageSQLite, false)
	ctxMemory := pprof.WithLabels(context.Background(), pprof.Labels("store", local.StorageNone))
	ctxDurable := pprof.WithLabels(context.Background(), pprof.Labels("store", local.StorageSQLite))
	b.ResetTimer()
	cpu0 := benchCPU()
	var tMemory, tDurable time.Duration
	n := max(1, b.N/rounds)
	for r := range rounds {
		if r%2 == 0 {
			tMemory += invokeMany(ctxMemory, b, memory, n)
			tDurable += invokeMany(ctxDurable, b, durable, n)
		} else {
			tDurable += invokeMany(ctxDurable, b, durable, n)
			tMemory += invokeMany(ctxMemory, b, memory, n)
		}
	}
	tasks := float64(rounds * n)
	b.ReportMetric(tasks/tMemory.Seconds(), "none-tasks/s")
	b.ReportMetric(tasks/tDurable.Seconds(), "sqlite-tasks/s")
	b.ReportMetric(100*tMemory.Seconds()/tDurable.Seconds(), "sqlite-%")
	cpu1 := benchCPU()
	if total := cpu1.machine - cpu0.machine; total > 0 {
		b.ReportMetric(100*float64(cpu1.steal-cpu0.steal)/float64(total), "steal-%")
	}
}

// BenchmarkInvokeLatency runs one task at a time and reports the p50, with
// the in-memory and the durable store (whose commit delay must not touch a
// lone caller), and with the instance called over gRPC.
func BenchmarkInvokeLatency(b *testing.B) {
	for _, bc := range []struct {
		name, storage string
		grpcOnly      bool
	}{
		{local.StorageNone, local.StorageNone, false},
		{local.StorageSQLite, local.StorageSQLite, false},
		{"none-grpc", local.StorageNone, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, ssn := benchCluster(b, bc.storage, bc.grpcOnly)
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				if _, err := ssn.Invoke(ctx, nil); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			reportP50(b, lat)
		})
	}
}

// BenchmarkSessionCreate reports the p50 of creating (and closing) a session.
func BenchmarkSessionCreate(b *testing.B) {
	conn, _ := benchCluster(b, local.StorageNone, false)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "noop"})
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		b.StopTimer()
		if err := ssn.Close(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportP50(b, lat)
}

// BenchmarkFirstResult reports the p50 from session create to the first
// result: an instance process is started, entered and invoked.
func BenchmarkFirstResult(b *testing.B) {
	conn, _ := benchCluster(b, local.StorageNone, false)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "noop", ResReq: &client.ResourceRequirement{}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ssn.Invoke(ctx, nil); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		b.StopTimer()
		if err := ssn.Close(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportP50(b, lat)
}

// cpuTimes is the CPU time (user + system) used so far by this process and
// by its live noopsvc children (the instances). CPU per task is steadier
// than tasks/s on a shared machine: it does not count other programs' time.
// machine and steal are the machine's CPU time and the part of it the
// hypervisor gave to other guests (/proc/stat, in clock ticks): the share
// stolen explains a slow run.
type cpuTimes struct {
	self, instances time.Duration
	machine, steal  int64
}

func benchCPU() cpuTimes {
	var ru syscall.Rusage
	var c cpuTimes
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		c.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		// cpu user nice system idle iowait irq softirq steal ...
		line, _, _ := strings.Cut(string(data), "\n")
		if f := strings.Fields(line); len(f) > 8 && f[0] == "cpu" {
			for i, v := range f[1:9] {
				n, _ := strconv.ParseInt(v, 10, 64)
				c.machine += n
				if i == 7 {
					c.steal = n
				}
			}
		}
	}
	ents, _ := os.ReadDir("/proc")
	me := os.Getpid()
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime(14) stime(15), in clock ticks.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(noopsvc") {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid != me {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		c.instances += time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
	}
	return c
}
