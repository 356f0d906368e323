// Command noopsvc is the smallest Go Flame service: it returns its input.
// The benchmarks build it to measure instance start-up and task overhead
// without the weight of the test binary.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/flmctl/flmctl/pkg/service"
)

type echo struct{}

func (echo) OnSessionEnter(context.Context, *service.SessionContext) error { return nil }
func (echo) OnTaskInvoke(_ context.Context, tc *service.TaskContext) ([]byte, error) {
	return tc.Input, nil
}
func (echo) OnSessionLeave(context.Context) error { return nil }

func main() {
	if err := service.Run(echo{}); err != nil {
		fmt.Fprintln(os.Stderr, "noopsvc:", err)
		os.Exit(1)
	}
}
