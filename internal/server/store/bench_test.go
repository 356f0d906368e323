package store

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"google.golang.org/protobuf/proto"
)

// benchCommitters is the number of goroutines committing concurrently in
// BenchmarkCommit, like RPC handlers of a busy session manager.
const benchCommitters = 256

// BenchmarkCommit measures the two durable changes of a task's life, each its
// own Commit as the session manager would do them: CreateTask with a 100-byte
// input, then UpdateTask to Succeed with a 100-byte output. One op is one
// task life (two mutations); mutations/s is the store's throughput.
func BenchmarkCommit(b *testing.B) {
	kinds := []struct {
		name string
		open func(b *testing.B) Store
	}{
		{"memory", func(b *testing.B) Store { return NewMemory() }},
		{"sqlite", func(b *testing.B) Store {
			s, err := OpenSQLite(filepath.Join(b.TempDir(), "flame.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			s := k.open(b)
			defer s.Close()
			const sessions = 16
			ctx := context.Background()
			for i := range sessions {
				if err := s.Commit(ctx, PutSession(session(fmt.Sprintf("ssn-%02d", i), "bench"))); err != nil {
					b.Fatal(err)
				}
			}
			input := make([]byte, 100)
			output := make([]byte, 100)
			var next atomic.Uint64
			b.SetParallelism((benchCommitters + 1) / max(1, testingGOMAXPROCS()))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := next.Add(1)
					sid := fmt.Sprintf("ssn-%02d", n%sessions)
					id := strconv.FormatUint(n, 10)
					tk := &flamev1.Task{
						Metadata: &flamev1.Metadata{Id: id, Name: id},
						Spec:     &flamev1.TaskSpec{SessionId: sid, Input: input},
						Status: &flamev1.TaskStatus{
							State:        flamev1.TaskState_Pending,
							CreationTime: 1700000000000,
							Events:       []*flamev1.Event{{Code: 0, Message: proto.String("Task was created with state <Pending>"), CreationTime: 1700000000000}},
						},
					}
					if err := s.Commit(ctx, CreateTask(tk)); err != nil {
						b.Error(err)
						return
					}
					tk.Spec.Output = output
					tk.Status.State = flamev1.TaskState_Succeed
					tk.Status.CompletionTime = proto.Int64(1700000000100)
					tk.Status.Events = append(tk.Status.Events,
						&flamev1.Event{Code: 1, Message: proto.String("Task state was updated to <Running>"), CreationTime: 1700000000050},
						&flamev1.Event{Code: 2, Message: proto.String("Task was completed with state <Succeed>"), CreationTime: 1700000000100})
					if err := s.Commit(ctx, UpdateTask(tk)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			cpu := processCPU() - cpu0
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
			if sq, ok := s.(*SQLite); ok && sq.nBatches.Load() > 0 {
				b.ReportMetric(float64(sq.nMutations.Load())/float64(sq.nBatches.Load()), "mutations/batch")
			}
			b.ReportMetric(float64(b.N)/sec, "task-lives/s")
			b.ReportMetric(2*float64(b.N)/sec, "mutations/s")
		})
	}
}

// BenchmarkLoad measures Load of a store holding 100,000 finished tasks (100
// sessions of 1,000) with 100-byte inputs and outputs.
func BenchmarkLoad(b *testing.B) {
	path := filepath.Join(b.TempDir(), "flame.db")
	s, err := OpenSQLite(path, WithMaxBatch(1<<20, 1<<30))
	if err != nil {
		b.Fatal(err)
	}
	var muts []Mutation
	for i := range 100 {
		sid := fmt.Sprintf("ssn-%03d", i)
		muts = append(muts, PutSession(session(sid, "bench")))
		for j := 1; j <= 1000; j++ {
			done := succeeded(task(sid, j, nil), make([]byte, 100))
			done.Spec.Input = make([]byte, 100)
			muts = append(muts, CreateTask(done))
		}
	}
	if err := s.Commit(context.Background(), muts...); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	s, err = OpenSQLite(path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for b.Loop() {
		st, err := s.Load(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Tasks) != 100000 {
			b.Fatalf("loaded %d tasks, want 100000", len(st.Tasks))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/load")
}

func testingGOMAXPROCS() int { return runtime.GOMAXPROCS(0) }

// processCPU is the user+system CPU time the process has used: on a shared
// machine CPU per op is steadier than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
