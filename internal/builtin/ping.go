package builtin

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"time"

	"github.com/flmctl/flmctl/pkg/service"
)

// pingRequest is flmping's task input. Both fields are optional, and so is
// the whole input: none means no sleep and no allocation.
type pingRequest struct {
	// Duration is how long to sleep, in milliseconds.
	Duration *uint64 `json:"duration"`
	// Memory is how many bytes to allocate (and touch) for the task's length.
	Memory *uint64 `json:"memory"`
}

// pingResponse is flmping's task output.
type pingResponse struct {
	Message string `json:"message"`
}

// Ping returns the flmping service. Its output message has upstream's exact
// form, angle brackets included:
//
//	Completed on <HOST> in <MS> milliseconds with <BYTES> memory
//
// where MS is the time the task took (allocation plus sleep) and BYTES the
// number of bytes allocated, in plain decimal (upstream prints its byte_unit
// value without a unit, which is the plain number).
func Ping() service.Service { return service.Typed(ping) }

func ping(ctx context.Context, req pingRequest) (pingResponse, error) {
	start := time.Now()
	var size uint64
	if req.Memory != nil {
		size = *req.Memory
	}
	mem, err := allocate(size)
	if err != nil {
		return pingResponse{}, err
	}
	if req.Duration != nil && *req.Duration > 0 {
		if err := sleep(ctx, *req.Duration); err != nil {
			return pingResponse{}, err
		}
	}
	elapsed := time.Since(start)
	// Keep the allocation alive for the whole task, as upstream does.
	runtime.KeepAlive(mem)

	host, err := os.Hostname()
	if err != nil {
		return pingResponse{}, fmt.Errorf("read the host name: %w", err)
	}
	return pingResponse{Message: fmt.Sprintf("Completed on <%s> in <%d> milliseconds with <%d> memory",
		host, elapsed.Milliseconds(), len(mem))}, nil
}

// sleep waits ms milliseconds or until ctx is done.
func sleep(ctx context.Context, ms uint64) error {
	d := time.Duration(math.MaxInt64)
	if ms < uint64(math.MaxInt64/int64(time.Millisecond)) {
		d = time.Duration(ms) * time.Millisecond
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ping interrupted during its %d ms sleep: %w", ms, context.Cause(ctx))
	}
}

// allocate returns size bytes with every page written, so that the memory
// is really resident rather than only reserved.
func allocate(size uint64) (mem []byte, err error) {
	if size == 0 {
		return nil, nil
	}
	if total := totalMemory(); total > 0 && size > total {
		return nil, fmt.Errorf("memory %d bytes is more than this machine's %d bytes of RAM: ask for less", size, total)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("memory %d bytes cannot be allocated by this process: ask for less", size)
	}
	// make panics (rather than failing) on sizes the runtime cannot address.
	defer func() {
		if r := recover(); r != nil {
			mem, err = nil, fmt.Errorf("allocate %d bytes: %v: ask for less", size, r)
		}
	}()
	mem = make([]byte, size)
	page := os.Getpagesize()
	for i := 0; i < len(mem); i += page {
		mem[i] = 1
	}
	return mem, nil
}
