// Package service writes Flame application instances in Go: programs that
// the executor manager starts for an application and then drives through the
// flame.v1.Instance protocol on a Unix socket. It is the Go counterpart of
// flamepy's FlameService and flamepy.run, and a service built on it runs
// under upstream Flame's executor manager as well as under flmctl's.
//
// # Writing a service
//
// Implement Service, or let Typed do the encoding:
//
//	type AddRequest struct{ A, B int }
//	type AddResponse struct{ Sum int }
//
//	func main() {
//		svc := service.Typed(func(ctx context.Context, req AddRequest) (AddResponse, error) {
//			return AddResponse{Sum: req.A + req.B}, nil
//		})
//		if err := service.Run(svc); err != nil {
//			log.Fatal(err)
//		}
//	}
//
// Register the binary as an application whose command is the program; each
// task's input is then the JSON of an AddRequest and its output the JSON of
// an AddResponse.
//
// # The contract
//
// Run reads FLAME_INSTANCE_ENDPOINT (a socket path; a unix:// prefix is
// accepted), removes a stale socket left at that path, and serves there.
// When flmctl's executor manager also offers a socket in
// FLMCTL_INSTANCE_FRAMED_ENDPOINT, Run serves the same calls there first,
// as length-prefixed protobuf frames, and the manager uses that socket: a
// task then costs a fraction of a gRPC call on both sides. Nothing changes
// for the service; under upstream's executor manager, which offers no such
// socket, Run serves gRPC alone.
// Calls arrive as OnSessionEnter, then OnTaskInvoke once per task, then
// OnSessionLeave; they never overlap. A handler's error or panic fails only
// that call (return code -1, the error text as the message) and the instance
// keeps serving. On SIGTERM or SIGINT, Run stops accepting calls, lets the
// call in progress finish within a grace period, removes the socket and
// returns nil.
//
// WithTaskTimeout bounds each task: its context is cancelled at the
// deadline and the task fails; a handler that ignores the cancellation is
// abandoned and the instance stops, so a fresh one takes the next task.
//
// RunContext is the same without signal handling, for programs that manage
// their own lifetime, and for tests (WithListener serves on any listener).
//
// # Many small tasks
//
// Calls never overlap, so an instance needs one CPU at a time unless a
// task runs goroutines of its own. For services of many short tasks, set
// GOMAXPROCS=1 in the application's environment (flmctl app register --env
// GOMAXPROCS=1): an idle Go runtime with more processors spins looking for
// work after every call. Measured with a no-op service on two cores
// (BenchmarkThroughput in pkg/local, none against none-gomaxprocs1), over
// the framed wire the instances' CPU per task went from 33 to 27 µs in
// one run and stayed at 40 µs in another, tasks/s within the noise: the
// cluster's own process is the bottleneck there. (Over gRPC, before the
// framed wire, it cut 84-93 µs to 66-80 µs.)
//
// # Trying a service by hand
//
// Set FLAME_INSTANCE_ENDPOINT yourself and call flame.v1.Instance on the
// socket with any gRPC client (the generated flamev1.InstanceClient in Go),
// or register the program as an application on a local cluster and create
// tasks for it.
package service
