// Package executor is the executor manager of a Flame node: it registers the
// node with the session manager, receives the executors the scheduler puts
// on the node, and for each one runs instance processes of the bound
// application through the host shim (spec §6, §8).
//
// # Talking to the session manager
//
// The manager sees the session manager only through the Backend interface.
// NewGRPCBackend implements it over flame.v1.Backend (any session manager,
// upstream's included); the embedded cluster's session manager implements
// it directly in process. Backend documents the contract of every method.
//
// # Lifecycle
//
//	m, err := executor.New(executor.Options{Backend: b, WorkDir: dir, SocketDir: sockDir, Logger: log})
//	if err != nil { ... }
//	if err := m.Start(); err != nil { ... }
//	defer m.Stop() // kills every instance process and waits for every goroutine
//
// Start runs the node loop in the background: RegisterNode with the
// executors the manager tracks, then WatchNode, heartbeats at once and every
// 5 s (gRPC backend); when the watch breaks, register again after a back-off
// of 1 s doubling to 30 s. Each executor message starts a local executor
// (unknown id), ends one (state Released) or is ignored (known id).
//
// # The executor loop
//
// Every executor has one goroutine, so its Backend calls and its calls to
// the instance are strictly sequential:
//
//	Void       RegisterExecutor                                  → Idle
//	Idle       BindExecutor (long poll); no session              → Releasing
//	           install (code 10), spawn + socket + connect (11),
//	           OnSessionEnter (12); BindExecutorCompleted(code)  → Bound, or Unbinding if code ≠ 0
//	Bound      LaunchTask (long poll) → OnTaskInvoke → CompleteTask, repeated;
//	           no task, or the instance lost                     → Unbinding
//	Unbinding  UnbindExecutor(cause) → OnSessionLeave (if the process lives)
//	           → stop the process, remove socket and directories
//	           → UnbindExecutorCompleted                         → Idle
//	Releasing  UnregisterExecutor                                → Released (loop ends)
//
// A failed Backend call is retried after a back-off (10 ms doubling to
// 2 s), except that NotFound drops the executor and InvalidArgument or
// FailedPrecondition abandon the step (see Backend).
//
// Beyond upstream (spec §6.5, §18.14): the wait for a new instance's socket
// is bounded by Options.SocketWait and ends at once when the process exits
// (bind code 11 naming the exit status and the tail of its stderr). The
// instance's calls and the executor's LaunchTask run under a context
// that is cancelled when the process is reaped, so a process that dies is
// noticed at once: a task it was running is completed as failed with a
// message naming the exit status and the last 20 lines (4 KiB) of its
// stderr, and the executor unbinds with an *InstanceExitError as the cause,
// so the session manager can bind a fresh instance; a death while waiting
// for a task also unbinds. A call that fails with Unavailable while the
// process still runs (a broken connection) waits up to one second for the
// process to exit, then stops it: either way the instance is not used
// again, and the outcome does not depend on whether the exit or the RPC
// error is seen first.
//
// # Host shim contract (spec §8)
//
// For a binding of executor E to application A:
//
//   - Working directory: A's working_directory (relative to WorkDir when
//     relative), else <WorkDir>/<E>, created and removed on unbind. Inside
//     it, work/<A>/tmp is created (and work/<A> removed on unbind) and
//     exported as TMPDIR, TEMP and TMP unless A sets them; stdout and stderr
//     go to <top>/<E>.out and <top>/<E>.err (truncated per binding).
//   - Socket: <SocketDir>/<E>.sock (at most 107 bytes), exported as
//     FLAME_INSTANCE_ENDPOINT (a plain path); the instance serves
//     flame.v1.Instance there; a stale file is removed before the start.
//     Beyond upstream, <SocketDir>/<E>.fsock is offered in
//     FLMCTL_INSTANCE_FRAMED_ENDPOINT (unless Options.GRPCOnly): when the
//     instance serves internal/instancewire's framed wire there, as
//     pkg/service does, the calls go over it instead of gRPC; other
//     instances ignore the variable and are called over gRPC.
//   - Environment: the manager's (Options.Env), then A's environments with
//     $VAR and ${VAR} expanded from the manager's environment (unknown
//     references kept as written), then RUST_LOG and FLAME_LOG (the
//     manager's RUST_LOG, default info), FLAME_INSTANCE_ENDPOINT,
//     FLAME_ENDPOINT, FLAME_CA_FILE, FLAME_CACHE_ENDPOINT (when configured),
//     HOME (the manager's, unless A sets it), FLAME_HOME (Options.FlameHome,
//     when the environment has none), the installer's variables, the temp
//     variables. Command and arguments are expanded with those variables
//     first, then the manager's environment; a command without a slash is
//     looked up in the instance's PATH.
//   - Installer: none → nothing; binary or python (any case) without a url
//     → $FLAME_HOME/lib/python<X.Y>/site-packages put in front of PYTHONPATH
//     (with its *.so directories in front of LD_LIBRARY_PATH and
//     FLAME_PYTHON_VERSION set) when that directory exists, else nothing;
//     with a url → bind code 10, because downloading application packages is
//     not supported yet; any other installer → code 10 "Unknown installer
//     type".
//   - Process: its own process group; stopped with SIGTERM to the group,
//     SIGKILL after Options.StopGrace, always reaped, then a SIGKILL to the
//     group for anything it left behind. One fresh process per binding; all
//     tasks of the binding reuse it and one connection to it.
//   - Calls: OnSessionEnter once, OnTaskInvoke per task, OnSessionLeave once
//     (also after a failed OnSessionEnter while the process lives), no
//     per-call timeouts.
package executor
