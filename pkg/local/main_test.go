package local_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flmctl/flmctl/internal/builtin"
	"github.com/flmctl/flmctl/pkg/cache"
	"github.com/flmctl/flmctl/pkg/service"
)

// serviceEnv names the test service this binary runs as when it is started
// as an instance process by the cluster under test.
const serviceEnv = "FLMCTL_LOCAL_TEST_SERVICE"

// builtinEnv makes this binary serve the built-in service named by its last
// argument, as "flmctl serve --builtin" does.
const builtinEnv = "FLMCTL_LOCAL_TEST_BUILTIN"

// taskTimeoutEnv, when set, is the test service's WithTaskTimeout.
const taskTimeoutEnv = "FLMCTL_LOCAL_TEST_TASK_TIMEOUT"

func TestMain(m *testing.M) {
	if mode := os.Getenv(serviceEnv); mode != "" {
		os.Exit(runTestService(mode))
	}
	if os.Getenv(builtinEnv) != "" {
		// Started as "<this binary> -test.run=^$ <service>" by a default
		// application, like "flmctl serve --builtin <service>".
		svc := builtin.Services()[os.Args[len(os.Args)-1]]
		if err := service.Run(svc); err != nil {
			fmt.Fprintln(os.Stderr, "builtin service:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if dir := os.Getenv(clusterEnv); dir != "" {
		os.Exit(runClusterProcess(dir))
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left after the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testService is the small Go service the integration tests run: it echoes
// its input, with a few inputs that make it misbehave on purpose.
type testService struct {
	failEnter bool
	enters    atomic.Int64
	tasks     atomic.Int64
	session   string
	common    []byte
}

func (s *testService) OnSessionEnter(_ context.Context, sc *service.SessionContext) error {
	s.enters.Add(1)
	s.tasks.Store(0)
	s.session = sc.SessionID
	s.common = sc.CommonData()
	if s.failEnter {
		return errors.New("intentional session enter failure")
	}
	return nil
}

func (s *testService) OnTaskInvoke(ctx context.Context, tc *service.TaskContext) ([]byte, error) {
	n := s.tasks.Add(1)
	in := string(tc.Input)
	switch {
	case in == "crash":
		fmt.Fprintln(os.Stderr, "about to crash on purpose")
		os.Exit(3)
	case in == "panic":
		panic("boom on purpose")
	case strings.HasPrefix(in, "fail:"):
		return nil, errors.New(strings.TrimPrefix(in, "fail:"))
	case in == "whoami":
		// pid, session enters in this process, tasks in this session
		return fmt.Appendf(nil, "%d/%d/%d", os.Getpid(), s.enters.Load(), n), nil
	case in == "common":
		return s.common, nil
	case in == "wait-for-cancel":
		<-ctx.Done()
		return nil, ctx.Err()
	case in == "ignore-cancel":
		select {} // a handler that never returns
	case strings.HasPrefix(in, "cacheref:"):
		// The input is a BSON ObjectRef: fetch the object from the cache the
		// executor names in FLAME_CACHE_ENDPOINT, as Runner services do.
		ref, err := cache.DecodeRef([]byte(strings.TrimPrefix(in, "cacheref:")))
		if err != nil {
			return nil, err
		}
		cc, err := cache.New(cache.Options{Endpoint: os.Getenv("FLAME_CACHE_ENDPOINT")})
		if err != nil {
			return nil, err
		}
		defer cc.Close()
		data, err := cc.Get(context.Background(), ref)
		if err != nil {
			return nil, err
		}
		out, err := cc.Put(context.Background(), ref.Key[:strings.LastIndex(ref.Key, "/")], append([]byte("seen: "), data...))
		if err != nil {
			return nil, err
		}
		return out.Encode(), nil
	case strings.HasPrefix(in, "hold:"):
		// Write our pid beside the FIFO, then block until the test opens
		// the FIFO for writing and closes it.
		fifo := strings.TrimPrefix(in, "hold:")
		if err := os.WriteFile(fifo+".pid", []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
			return nil, err
		}
		if _, err := os.ReadFile(fifo); err != nil {
			return nil, err
		}
		return []byte("released"), nil
	case in == "nil":
		return nil, nil
	}
	return tc.Input, nil
}

func (s *testService) OnSessionLeave(context.Context) error { return nil }

func runTestService(mode string) int {
	// An instance whose cluster was killed (the crash test) goes with it.
	parent := os.Getppid()
	go func() {
		for range time.Tick(50 * time.Millisecond) {
			if os.Getppid() != parent {
				os.Exit(2)
			}
		}
	}()
	var opts []service.Option
	if d, err := time.ParseDuration(os.Getenv(taskTimeoutEnv)); err == nil {
		opts = append(opts, service.WithTaskTimeout(d))
	}
	if err := service.Run(&testService{failEnter: mode == "fail-enter"}, opts...); err != nil {
		fmt.Fprintln(os.Stderr, "test service:", err)
		return 1
	}
	return 0
}
