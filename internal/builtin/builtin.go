package builtin

import (
	"context"

	"github.com/flmctl/flmctl/pkg/service"
)

// Names of the built-in services, as `flmctl serve --builtin` takes them.
const (
	PingName = "flmping"
	ExecName = "flmexec"
	EchoName = "echo"
)

// Services returns a fresh instance of every built-in service by name.
func Services() map[string]service.Service {
	return map[string]service.Service{
		PingName: Ping(),
		ExecName: &Exec{},
		EchoName: Echo(),
	}
}

// Echo returns a service whose tasks output their input unchanged (no
// output for no input).
func Echo() service.Service {
	return service.TaskFunc(func(_ context.Context, tc *service.TaskContext) ([]byte, error) {
		return tc.Input, nil
	})
}
