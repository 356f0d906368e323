package executor

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/flmctl/flmctl/pkg/service"
)

// echoEnv makes this test binary an echo service (pkg/service), the
// instance of the application the run tests register.
const echoEnv = "FLMCTL_EXECUTOR_TEST_ECHO"

func TestMain(m *testing.M) {
	if os.Getenv(echoEnv) != "" {
		echo := service.TaskFunc(func(_ context.Context, tc *service.TaskContext) ([]byte, error) { return tc.Input, nil })
		if err := service.Run(echo); err != nil {
			fmt.Fprintln(os.Stderr, "echo service:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
