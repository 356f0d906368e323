package client

import (
	"fmt"
	"strings"
)

// SessionState is the state of a session. Values equal the wire enum.
type SessionState int32

// Session states.
const (
	SessionOpen   SessionState = 0
	SessionClosed SessionState = 1
)

var sessionStateNames = []string{"Open", "Closed"}

// String returns "Open" or "Closed".
func (s SessionState) String() string { return enumName("SessionState", int32(s), sessionStateNames) }

// ParseSessionState parses a session state name, ignoring case.
func ParseSessionState(s string) (SessionState, error) {
	return parseEnum[SessionState]("session state", s, sessionStateNames)
}

// TaskState is the state of a task. Values equal the wire enum.
type TaskState int32

// Task states. Succeed, Failed and Cancelled are terminal.
const (
	TaskPending   TaskState = 0
	TaskRunning   TaskState = 1
	TaskSucceed   TaskState = 2
	TaskFailed    TaskState = 3
	TaskCancelled TaskState = 4
)

var taskStateNames = []string{"Pending", "Running", "Succeed", "Failed", "Cancelled"}

// String returns the state's name, e.g. "Running".
func (s TaskState) String() string { return enumName("TaskState", int32(s), taskStateNames) }

// IsTerminal reports whether the task can no longer change: Succeed, Failed or Cancelled.
func (s TaskState) IsTerminal() bool {
	return s == TaskSucceed || s == TaskFailed || s == TaskCancelled
}

// ParseTaskState parses a task state name, ignoring case.
func ParseTaskState(s string) (TaskState, error) {
	return parseEnum[TaskState]("task state", s, taskStateNames)
}

// ApplicationState is the state of an application. Values equal the wire enum.
type ApplicationState int32

// Application states. No API sets Disabled today.
const (
	ApplicationEnabled  ApplicationState = 0
	ApplicationDisabled ApplicationState = 1
)

var applicationStateNames = []string{"Enabled", "Disabled"}

// String returns "Enabled" or "Disabled".
func (s ApplicationState) String() string {
	return enumName("ApplicationState", int32(s), applicationStateNames)
}

// ParseApplicationState parses an application state name, ignoring case.
func ParseApplicationState(s string) (ApplicationState, error) {
	return parseEnum[ApplicationState]("application state", s, applicationStateNames)
}

// Shim is how an executor runs an application. Values equal the wire enum.
type Shim int32

// Shims. Host (the default) starts a process; Wasm is never scheduled by our server.
const (
	ShimHost Shim = 0
	ShimWasm Shim = 1
)

var shimNames = []string{"Host", "Wasm"}

// String returns "Host" or "Wasm".
func (s Shim) String() string { return enumName("Shim", int32(s), shimNames) }

// ParseShim parses a shim name, ignoring case.
func ParseShim(s string) (Shim, error) { return parseEnum[Shim]("shim", s, shimNames) }

// ExecutorState is the state of an executor. Values equal the wire enum.
type ExecutorState int32

// Executor states.
const (
	ExecutorUnknown   ExecutorState = 0
	ExecutorVoid      ExecutorState = 1
	ExecutorIdle      ExecutorState = 2
	ExecutorBinding   ExecutorState = 3
	ExecutorBound     ExecutorState = 4
	ExecutorUnbinding ExecutorState = 5
	ExecutorReleasing ExecutorState = 6
	ExecutorReleased  ExecutorState = 7
)

var executorStateNames = []string{"Unknown", "Void", "Idle", "Binding", "Bound", "Unbinding", "Releasing", "Released"}

// String returns the state's name without the wire enum's "Executor" prefix, e.g. "Idle".
func (s ExecutorState) String() string {
	return enumName("ExecutorState", int32(s), executorStateNames)
}

// ParseExecutorState parses an executor state name, ignoring case; the wire
// form with the "Executor" prefix ("ExecutorIdle") is accepted too.
func ParseExecutorState(s string) (ExecutorState, error) {
	t := strings.TrimSpace(s)
	if len(t) > len("executor") && strings.EqualFold(t[:len("executor")], "executor") {
		t = t[len("executor"):]
	}
	st, err := parseEnum[ExecutorState]("executor state", t, executorStateNames)
	if err != nil {
		return 0, parseEnumError("executor state", s, executorStateNames)
	}
	return st, nil
}

// NodeState is the state of a node. Values equal the wire enum.
type NodeState int32

// Node states.
const (
	NodeUnknown  NodeState = 0
	NodeReady    NodeState = 1
	NodeNotReady NodeState = 2
)

var nodeStateNames = []string{"Unknown", "Ready", "NotReady"}

// String returns "Unknown", "Ready" or "NotReady".
func (s NodeState) String() string { return enumName("NodeState", int32(s), nodeStateNames) }

// ParseNodeState parses a node state name, ignoring case.
func ParseNodeState(s string) (NodeState, error) {
	return parseEnum[NodeState]("node state", s, nodeStateNames)
}

func enumName(typ string, v int32, names []string) string {
	if v >= 0 && int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, v)
}

func parseEnum[T ~int32](kind, s string, names []string) (T, error) {
	t := strings.TrimSpace(s)
	for i, n := range names {
		if strings.EqualFold(t, n) {
			return T(i), nil
		}
	}
	return 0, parseEnumError(kind, s, names)
}

func parseEnumError(kind, s string, names []string) error {
	valid := make([]string, len(names))
	for i, n := range names {
		valid[i] = strings.ToLower(n)
	}
	return errorf(CodeInvalidArgument, "unknown %s %q; valid: %s", kind, s, strings.Join(valid, ", "))
}
