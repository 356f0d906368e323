package executor

import (
	"context"
	"fmt"
	"strings"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// Backend is the executor manager's view of the session manager: the node
// and executor half of upstream's flame.v1.Backend service (spec §2.4, §6).
// Two implementations exist: NewGRPCBackend speaks the wire protocol to a
// local or remote session manager, and the session manager provides a
// direct in-process one for the embedded cluster, so that launching and
// completing a task costs no loopback RPC.
//
// Conventions shared by every method:
//
//   - Calls for one executor id are strictly sequential: the manager runs one
//     goroutine per executor and never has two calls for the same id in
//     flight. Calls for different executors run concurrently.
//   - Every method must return promptly with an error once ctx is done; the
//     manager cancels ctx on Stop, and cancels LaunchTask's ctx when the
//     executor's instance process exits.
//   - Errors carry a gRPC code, either as a status (the gRPC implementation)
//     or as an error with a GRPCStatus method (internal/server/errs). The
//     manager reads the code with status.Code:
//     NotFound means the executor is unknown to the session manager; the
//     manager stops its instance and forgets the executor.
//     InvalidArgument or FailedPrecondition mean the session manager
//     disagrees about the executor's state ("Executor is <state>"); the
//     manager abandons the step (see each method) instead of retrying it.
//     Any other code is treated as transient: the same call is repeated after
//     a back-off (10 ms doubling to 2 s), so implementations must accept a
//     repeated call after a failure that may have taken effect.
//   - Messages passed in belong to the callee after the call (the manager
//     does not modify or reuse them, so the direct implementation may store
//     a TaskResult as is). Messages returned, and executors passed to
//     deliver, are only read by the manager, never modified, so the direct
//     implementation may hand out its stored (immutable, R27) objects; it
//     must not modify them afterwards either.
type Backend interface {
	// RegisterNode registers this node, or refreshes its registration after a
	// broken watch (spec §6.1 step 2). node carries metadata (id and name
	// both the node name), spec.hostname and a full status (state Ready,
	// capacity, allocatable, info). executors lists every executor the
	// manager currently tracks, each with metadata.id, spec{node, resreq,
	// shim} and status{state, session_id} filled, so the session manager can
	// align: executors it has for the node but that are missing from the list
	// are released, and executors in the list that it does not know are sent
	// back through WatchNode with state ExecutorReleased.
	RegisterNode(ctx context.Context, node *flamev1.Node, executors []*flamev1.Executor) error

	// WatchNode blocks while it delivers the executors the session manager
	// assigns to (or changes on) the node named node, one deliver call per
	// executor message, including a full initial sync after RegisterNode. It
	// calls status for the node's current status whenever it reports a
	// heartbeat (the gRPC implementation: at once, then every 5 s). deliver
	// is called from one goroutine at a time and must not be called after
	// WatchNode returns; it does not block and does not call back into the
	// Backend (it only records the executor and starts its goroutine), so
	// it may be called with the session manager's locks held. The manager
	// does not modify the executor passed. WatchNode returns ctx.Err()
	// when ctx ends, or another non-nil error when the watch breaks (stream
	// closed by the server, no message for 30 s); the manager then calls
	// RegisterNode again after a back-off of 1 s doubling to 30 s.
	WatchNode(ctx context.Context, node string, status func() *flamev1.NodeStatus, deliver func(*flamev1.Executor)) error

	// RegisterExecutor moves a Void executor, created by the scheduler for
	// this node, to Idle. spec carries the node name, the resource
	// requirement received with the executor and shim Host. A conflict
	// (already Idle or later) is taken as "registered".
	RegisterExecutor(ctx context.Context, id string, spec *flamev1.ExecutorSpec) error

	// BindExecutor is a long poll without a timeout (spec §18.13): it waits
	// until the scheduler binds the Idle executor to a session, then returns
	// the application and the session (with spec.common_data) to bind to.
	// It returns (nil, nil, nil) when the executor is being released, or the
	// session it was bound to is gone or closed; the manager then calls
	// UnregisterExecutor. Returning exactly one of application and session
	// is a protocol error. A conflict makes the manager unbind
	// (UnbindExecutor, UnbindExecutorCompleted) to get back to Idle.
	BindExecutor(ctx context.Context, id string) (*flamev1.Application, *flamev1.Session, error)

	// BindExecutorCompleted reports the outcome of a binding. res.ReturnCode
	// is 0 when the instance is up and OnSessionEnter succeeded (executor →
	// Bound), else 10 (installer failed), 11 (working directory, process or
	// connection failed, including an instance that exited before it was
	// reachable) or 12 (OnSessionEnter failed), with res.Message starting
	// "application installation failed: ", "shim creation failed: " or
	// "on_session_enter failed: " (spec §5.3; for an OnSessionEnter that
	// returned a non-zero code the text after the prefix is exactly the
	// instance's message). After a non-zero code the manager unbinds:
	// UnbindExecutor, then UnbindExecutorCompleted. A conflict (e.g. the
	// session vanished) also makes the manager unbind.
	BindExecutorCompleted(ctx context.Context, id string, res *flamev1.Result) error

	// LaunchTask is a long poll: it returns the next task of the bound
	// session (now Running, assigned to the executor), or a nil task when the
	// executor should unbind (session closed or gone, or the application's
	// delay_release expired with no task). If a task is already assigned to
	// the executor (a repeated call) it returns that task again. The manager
	// cancels ctx when the instance process exits while it waits; the
	// implementation must then not leave a task assigned to the executor —
	// either it never assigns one once ctx is done (the direct implementation
	// can check under its lock), or it returns the assigned-but-unreported
	// task to Pending when UnbindExecutor arrives. Every task the manager
	// receives is answered by exactly one successful CompleteTask unless the
	// manager is stopped first. A conflict makes the manager unbind.
	LaunchTask(ctx context.Context, id string) (*flamev1.Task, error)

	// CompleteTask reports the result of the task last returned by
	// LaunchTask. res is the instance's TaskResult as received (return_code
	// 0 = Succeed with output, anything else = Failed with message), or one
	// the manager made up with return_code -1 and a message when the call to
	// the instance failed: "OnTaskInvoke failed: <rpc error>" when the
	// instance answered with an RPC error, or the text of an
	// *InstanceExitError when the instance process died (exit status and
	// stderr tail). A conflict makes the manager unbind.
	CompleteTask(ctx context.Context, id string, res *flamev1.TaskResult) error

	// UnbindExecutor starts unbinding: Bound, Binding or Unbinding →
	// Unbinding; a task still assigned to the executor that was never
	// completed goes back to Pending. cause is nil for an ordinary unbind
	// (no more tasks, or after a failed bind reported by
	// BindExecutorCompleted). It is an *InstanceExitError when the instance
	// process died or lost its connection while bound (spec §18.14); the
	// session manager counts that against the session's retry limit like a
	// failed bind. The gRPC implementation cannot send cause (upstream's
	// UnbindExecutorRequest has only the executor id) and drops it. The
	// manager calls OnSessionLeave and stops the instance after this call
	// succeeds. A conflict is ignored (the manager goes on unbinding).
	UnbindExecutor(ctx context.Context, id string, cause error) error

	// UnbindExecutorCompleted finishes unbinding: Unbinding or Binding →
	// Idle, session cleared. When it is called, the instance process of the
	// binding has been stopped and reaped and its socket and per-binding
	// directories removed. A conflict is taken as "already Idle".
	UnbindExecutorCompleted(ctx context.Context, id string) error

	// UnregisterExecutor ends a Releasing executor (→ Released, deleted).
	// The manager forgets the executor afterwards. A conflict sends the
	// manager back to BindExecutor.
	UnregisterExecutor(ctx context.Context, id string) error
}

// Bind result codes sent in BindExecutorCompleted (spec §5.3).
const (
	// BindOK: the instance is up and entered the session.
	BindOK int32 = 0
	// BindInstallFailed: the application's installer failed.
	BindInstallFailed int32 = 10
	// BindShimCreateFailed: the working directory, the process or the
	// connection to it could not be set up.
	BindShimCreateFailed int32 = 11
	// BindSessionEnterFailed: OnSessionEnter failed or returned non-zero.
	BindSessionEnterFailed int32 = 12
)

// Detail prefixes of the bind result codes (spec §5.3).
const (
	installFailedPrefix = "application installation failed: "
	shimFailedPrefix    = "shim creation failed: "
	enterFailedPrefix   = "on_session_enter failed: "
)

// InstanceExitError describes an instance process that ended, or was
// stopped because its connection failed, while its executor needed it. It is
// the cause passed to Backend.UnbindExecutor, and its text is the message of
// the task that was running and of bind failures caused by an early exit.
type InstanceExitError struct {
	// ExecutorID is the executor that ran the instance.
	ExecutorID string
	// PID is the instance's process id.
	PID int
	// Status is the process's exit status as Go prints it, e.g.
	// "exit status 3" or "signal: killed".
	Status string
	// During says what the executor was doing, e.g. "running task 7".
	During string
	// Reason is set when the manager stopped the process itself because the
	// connection to it failed, and holds that failure; it is empty when the
	// process exited on its own.
	Reason string
	// Stderr holds the last lines of the process's stderr (at most 20 lines
	// and 4 KiB), or "" when it wrote nothing.
	Stderr string
}

// Error describes the exit: status, what the executor was doing, and the
// tail of the instance's stderr.
func (e *InstanceExitError) Error() string {
	var b strings.Builder
	if e.Reason != "" {
		fmt.Fprintf(&b, "instance process (pid %d) was stopped (%s) after its connection failed while %s: %s",
			e.PID, e.Status, e.During, e.Reason)
	} else {
		fmt.Fprintf(&b, "instance process (pid %d) exited with %s while %s", e.PID, e.Status, e.During)
	}
	if e.Stderr != "" {
		b.WriteString("; last lines of its stderr:\n")
		b.WriteString(e.Stderr)
	} else {
		b.WriteString("; its stderr was empty")
	}
	return b.String()
}
