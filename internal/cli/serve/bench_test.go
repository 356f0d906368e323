package serve

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkServeThroughput measures tasks/s through the embedded cluster
// for "flmctl serve -- cat" (a process per task), "flmctl serve --stream
// -- cat" (a process per session) and, as the baseline, a Go service that
// does nothing (pkg/service). All three instances are this test binary, so
// only the way tasks reach the work differs:
//
//	go test -run '^$' -bench ServeThroughput -benchtime 2000x ./internal/cli/serve/
func BenchmarkServeThroughput(b *testing.B) {
	for _, bc := range []struct {
		name string
		env  map[string]string
	}{
		{"go-noop", map[string]string{noopEnv: "1"}},
		{"exec-cat", map[string]string{serveArgsEnv: encodeArgs("--", "cat")}},
		{"stream-cat", map[string]string{serveArgsEnv: encodeArgs("--stream", "--", "cat")}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			conn := startCluster(b)
			registerSelf(b, conn, "bench", bc.env)
			ssn := openSession(b, conn, "bench", nil)
			ctx := context.Background()
			input := []byte("0123456789abcdef")
			// Warm up: the instances are started.
			for range 20 {
				if _, err := ssn.Invoke(ctx, input); err != nil {
					b.Fatal(err)
				}
			}
			const inFlight = 64
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			t0 := time.Now()
			for range inFlight {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := ssn.Invoke(ctx, input); err != nil {
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
}
