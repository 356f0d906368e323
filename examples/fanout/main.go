// Command fanout runs a small batch job on an embedded Flame cluster, the
// way a Go program can use Flame with nothing installed:
//
//	go run ./examples/fanout -n 1000
//
// It starts a single-node cluster inside the process (pkg/local), registers
// its own executable as the application (when the executor starts it as an
// instance, FLAME_INSTANCE_ENDPOINT is set and it serves tasks with
// pkg/service), fans n tasks out over one session with pkg/client futures
// (created from a few goroutines), checks every result and prints a
// summary.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/local"
	"github.com/flmctl/flmctl/pkg/service"
)

func main() {
	if os.Getenv(service.EndpointEnv) != "" {
		// Started by the executor: be the service.
		if err := service.Run(square()); err != nil {
			fmt.Fprintln(os.Stderr, "fanout service:", err)
			os.Exit(1)
		}
		return
	}
	n := flag.Int("n", 1000, "number of tasks")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *n); err != nil {
		fmt.Fprintln(os.Stderr, "fanout:", err)
		os.Exit(1)
	}
}

// square is the service: a task's input is a JSON number, its output the
// number squared.
func square() service.Service {
	return service.Typed(func(_ context.Context, x int64) (int64, error) {
		return x * x, nil
	})
}

// run starts the cluster, runs n tasks and reports.
func run(ctx context.Context, out io.Writer, n int) error {
	if n < 1 {
		return errors.New("-n must be at least 1")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	start := time.Now()
	cluster, err := local.Start(ctx, local.Options{})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	conn, err := client.Connect(ctx, cluster.Endpoints().Frontend)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.RegisterApplication(ctx, "square", client.ApplicationAttributes{
		Command:     exe,
		Description: "squares numbers (examples/fanout)",
	}); err != nil {
		return err
	}
	// A session that asks for no resources gets as many instances as the
	// node allows.
	ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "square", ResReq: &client.ResourceRequirement{}})
	if err != nil {
		return err
	}
	defer ssn.Close(context.WithoutCancel(ctx))
	fmt.Fprintf(out, "cluster up at %s in %s; session %s\n", cluster.Endpoints().Frontend, time.Since(start).Round(time.Millisecond), ssn.ID())

	t0 := time.Now()
	// Run returns once its task exists, a round trip each: a few
	// submitters keep the cluster busy meanwhile. The futures then wait
	// on a small shared set of watch streams.
	futures := make([]*client.Future, n)
	const submitters = 8
	var wg sync.WaitGroup
	for w := range submitters {
		wg.Go(func() {
			for i := w; i < n; i += submitters {
				futures[i] = ssn.Run(ctx, fmt.Appendf(nil, "%d", i+1))
			}
		})
	}
	wg.Wait()
	var sum int64
	for i, f := range futures {
		b, err := f.Wait(ctx)
		if err != nil {
			return fmt.Errorf("task %d: %w", i+1, err)
		}
		var sq int64
		if err := json.Unmarshal(b, &sq); err != nil || sq != int64(i+1)*int64(i+1) {
			return fmt.Errorf("task %d returned %q, want %d", i+1, b, (i+1)*(i+1))
		}
		sum += sq
	}
	elapsed := time.Since(t0)
	execs, err := conn.ListExecutors(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d tasks on %d instances in %s (%.0f tasks/s); sum of squares = %d\n",
		n, len(execs), elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), sum)
	return nil
}
