// Package client is the Go client of a Flame cluster: it registers
// applications, opens sessions and runs tasks through the Frontend gRPC
// service of any Flame session manager, upstream's or flmctl's own. It is the
// Go counterpart of flamepy's client API.
//
// Connect to an endpoint, or to the current flame.yaml context:
//
//	conn, err := client.Connect(ctx, "http://127.0.0.1:8080")
//	// or: r, _ := contexts.Resolve(contexts.Options{}); conn, err := client.ConnectResolved(ctx, r)
//	defer conn.Close()
//
// Register an application and run tasks in a session:
//
//	err = conn.RegisterApplication(ctx, "echo", client.ApplicationAttributes{
//		Command: "/usr/local/bin/echo-service",
//	})
//	ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "echo"})
//	defer ssn.Close(ctx)
//	out, err := ssn.Invoke(ctx, []byte("hello")) // create a task and wait for its output
//
// Session.Run starts a task and returns a Future at once, for fanning many
// tasks out; the futures of a connection share a bounded pool of watch streams
// (WithMaxWatchStreams), so thousands may be pending without thousands of
// goroutines:
//
//	futures := make([]*client.Future, len(inputs))
//	for i, in := range inputs {
//		futures[i] = ssn.Run(ctx, in)
//	}
//	for _, f := range futures {
//		out, err := f.Wait(ctx)
//		...
//	}
//
// The package-level functions (CreateSession, GetApplication, ...) use a
// process-wide connection to the current context; see Default.
//
// # Errors
//
// Errors are *FlameError values whose Code says what went wrong; test them
// with errors.Is against ErrNotFound, ErrAlreadyExists, ErrInvalidArgument,
// ErrInvalidState, ErrInvalidConfig, ErrInternal and ErrUnavailable (cannot
// reach the server). A failed or cancelled task is a *TaskFailedError, which
// also matches its FlameError code. Cancelled calls and expired deadlines
// wrap context.Canceled and context.DeadlineExceeded instead.
//
// # Compatibility
//
// Task states include Cancelled (flamepy cannot represent it). Messages may be
// up to 64 MiB (MaxMessageSize); upstream's frontend accepts only 4 MiB, so
// large data belongs in the object cache.
//
// Against an flmctl server, Invoke takes one call (its CreateTask carries the
// metadata flamev1.WaitMetadataKey and is answered when the task has ended)
// and the watches of futures are sent the final state alone. Upstream
// servers ignore that metadata: there Invoke creates the task and watches it,
// as flamepy does. Either way the results are the same.
package client
