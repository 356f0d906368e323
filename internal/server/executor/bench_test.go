package executor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// benchBackend is the cheapest possible session manager: it binds every
// executor once to one session and hands out one shared no-op task from a
// channel, so that the benchmark measures the executor side.
type benchBackend struct {
	execs   int
	app     *flamev1.Application
	ssn     *flamev1.Session
	tasks   chan *flamev1.Task
	ready   chan struct{} // closed when every executor waits in LaunchTask
	done    chan struct{} // closed when target tasks completed
	target  int64
	waiting atomic.Int64
	count   atomic.Int64

	mu    sync.Mutex
	bound map[string]bool
}

func (f *benchBackend) RegisterNode(context.Context, *flamev1.Node, []*flamev1.Executor) error {
	return nil
}

func (f *benchBackend) WatchNode(ctx context.Context, _ string, _ func() *flamev1.NodeStatus, deliver func(*flamev1.Executor)) error {
	for i := range f.execs {
		deliver(&flamev1.Executor{
			Metadata: &flamev1.Metadata{Id: fmt.Sprintf("bench-%d", i)},
			Spec:     &flamev1.ExecutorSpec{Node: "bench"},
			Status:   &flamev1.ExecutorStatus{State: flamev1.ExecutorState_ExecutorIdle},
		})
	}
	<-ctx.Done()
	return ctx.Err()
}

func (f *benchBackend) RegisterExecutor(context.Context, string, *flamev1.ExecutorSpec) error {
	return nil
}

func (f *benchBackend) BindExecutor(ctx context.Context, id string) (*flamev1.Application, *flamev1.Session, error) {
	f.mu.Lock()
	first := !f.bound[id]
	f.bound[id] = true
	f.mu.Unlock()
	if first {
		return f.app, f.ssn, nil
	}
	<-ctx.Done()
	return nil, nil, ctxErr(ctx)
}

func (f *benchBackend) BindExecutorCompleted(_ context.Context, id string, res *flamev1.Result) error {
	if res.GetReturnCode() != 0 {
		panic("bench binding failed: " + res.GetMessage())
	}
	return nil
}

func (f *benchBackend) LaunchTask(ctx context.Context, _ string) (*flamev1.Task, error) {
	if f.waiting.Load() < int64(f.execs) && f.waiting.Add(1) == int64(f.execs) {
		close(f.ready)
	}
	select {
	case t := <-f.tasks:
		return t, nil
	case <-ctx.Done():
		return nil, ctxErr(ctx)
	}
}

func (f *benchBackend) CompleteTask(_ context.Context, _ string, res *flamev1.TaskResult) error {
	if res.GetReturnCode() != 0 {
		panic("bench task failed: " + res.GetMessage())
	}
	if f.count.Add(1) == f.target {
		close(f.done)
	}
	return nil
}

func (f *benchBackend) UnbindExecutor(context.Context, string, error) error { return nil }
func (f *benchBackend) UnbindExecutorCompleted(context.Context, string) error {
	return nil
}
func (f *benchBackend) UnregisterExecutor(context.Context, string) error { return nil }

var benchInstances = []int{1, 2, 4}

// BenchmarkManagerTasks measures no-op tasks per second through one
// Manager with n instances (LaunchTask → OnTaskInvoke over the Unix socket
// → CompleteTask), against an in-memory backend.
func BenchmarkManagerTasks(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchInstances {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			task := newTask("bench-ssn", 1, "")
			f := &benchBackend{
				execs: n,
				app: &flamev1.Application{Metadata: &flamev1.Metadata{Name: "noop"}, Spec: &flamev1.ApplicationSpec{
					Command:      proto.String(exe),
					Environments: []*flamev1.Environment{{Name: instanceModeEnv, Value: modeServe}},
				}},
				ssn:    &flamev1.Session{Metadata: &flamev1.Metadata{Id: "bench-ssn"}},
				tasks:  make(chan *flamev1.Task, b.N),
				ready:  make(chan struct{}),
				done:   make(chan struct{}),
				target: int64(b.N),
				bound:  map[string]bool{},
			}
			m, err := New(Options{Backend: f, NodeName: "bench", WorkDir: shortTempDir(b), SocketDir: shortTempDir(b), StopGrace: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Start(); err != nil {
				b.Fatal(err)
			}
			defer m.Stop()
			<-f.ready
			b.ReportAllocs()
			cpu := startCPU()
			b.ResetTimer()
			for range b.N {
				f.tasks <- task
			}
			<-f.done
			b.StopTimer()
			reportRates(b, cpu)
		})
	}
}

// BenchmarkDirectInvoke is the baseline: the same no-op OnTaskInvoke calls
// made straight to n instances over their sockets, one goroutine each,
// without the manager or a backend.
func BenchmarkDirectInvoke(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchInstances {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			dir := shortTempDir(b)
			clients := make([]flamev1.InstanceClient, n)
			for i := range n {
				sock := filepath.Join(dir, fmt.Sprintf("%d.sock", i))
				cmd := exec.Command(exe)
				cmd.Env = append(os.Environ(), instanceModeEnv+"="+modeServe, "FLAME_INSTANCE_ENDPOINT="+sock)
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
				conn, err := grpc.NewClient("unix://"+sock, instanceDialOptions()...)
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				clients[i] = flamev1.NewInstanceClient(conn)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err = clients[i].OnSessionEnter(ctx, &flamev1.SessionContext{SessionId: "s"}, grpc.WaitForReady(true))
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			b.ReportAllocs()
			cpu := startCPU()
			b.ResetTimer()
			var wg sync.WaitGroup
			for _, c := range clients {
				wg.Go(func() {
					tc := &flamev1.TaskContext{TaskId: "1", SessionId: "s"}
					for next.Add(1) <= int64(b.N) {
						if _, err := c.OnTaskInvoke(context.Background(), tc); err != nil {
							panic(err)
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			reportRates(b, cpu)
		})
	}
}

// startCPU returns a function that reports the CPU time this process
// (not the instances) used since the call. On a shared machine CPU time per
// task is a steadier measure than wall time.
func startCPU() func() time.Duration {
	var start syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &start)
	return func() time.Duration {
		var end syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &end)
		used := func(r *syscall.Rusage) time.Duration {
			return time.Duration(r.Utime.Nano() + r.Stime.Nano())
		}
		return used(&end) - used(&start)
	}
}

// reportRates reports tasks per second of wall time and microseconds of
// this process's CPU per task.
func reportRates(b *testing.B, cpu func() time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
	b.ReportMetric(float64(cpu().Microseconds())/float64(b.N), "cpu-µs/task")
}
