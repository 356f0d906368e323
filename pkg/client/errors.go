package client

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorCode classifies a FlameError. Values 0–5 equal flamepy's FlameErrorCode.
type ErrorCode int

// Error codes. CodeUnavailable is a Go addition for transport failures; its value
// lies outside flamepy's range so that a code added upstream cannot collide with it.
const (
	CodeInvalidConfig   ErrorCode = 0
	CodeInvalidState    ErrorCode = 1
	CodeInvalidArgument ErrorCode = 2
	CodeInternal        ErrorCode = 3
	CodeAlreadyExists   ErrorCode = 4
	CodeNotFound        ErrorCode = 5
	CodeUnavailable     ErrorCode = 100
)

// String returns the code's upper-case name, e.g. "NOT_FOUND".
func (c ErrorCode) String() string {
	switch c {
	case CodeInvalidConfig:
		return "INVALID_CONFIG"
	case CodeInvalidState:
		return "INVALID_STATE"
	case CodeInvalidArgument:
		return "INVALID_ARGUMENT"
	case CodeInternal:
		return "INTERNAL"
	case CodeAlreadyExists:
		return "ALREADY_EXISTS"
	case CodeNotFound:
		return "NOT_FOUND"
	case CodeUnavailable:
		return "UNAVAILABLE"
	}
	return fmt.Sprintf("ErrorCode(%d)", int(c))
}

// FlameError is the error type of this package. Match it by code with errors.Is
// against the Err* sentinels, or inspect it with errors.As.
type FlameError struct {
	Code    ErrorCode
	Message string
	err     error // the gRPC status error behind it, if any
}

// Error returns the message.
func (e *FlameError) Error() string { return e.Message }

// Unwrap returns the underlying gRPC status error, or nil when the error did not
// come from a failed RPC.
func (e *FlameError) Unwrap() error { return e.err }

// Is reports whether target is a *FlameError with the same code, so that
// errors.Is(err, ErrNotFound) matches every not-found error.
func (e *FlameError) Is(target error) bool {
	t, ok := target.(*FlameError)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is; they compare by code only.
var (
	ErrInvalidConfig   = &FlameError{Code: CodeInvalidConfig, Message: "invalid config"}
	ErrInvalidState    = &FlameError{Code: CodeInvalidState, Message: "invalid state"}
	ErrInvalidArgument = &FlameError{Code: CodeInvalidArgument, Message: "invalid argument"}
	ErrInternal        = &FlameError{Code: CodeInternal, Message: "internal error"}
	ErrAlreadyExists   = &FlameError{Code: CodeAlreadyExists, Message: "already exists"}
	ErrNotFound        = &FlameError{Code: CodeNotFound, Message: "not found"}
	ErrUnavailable     = &FlameError{Code: CodeUnavailable, Message: "unavailable"}
)

func errorf(code ErrorCode, format string, args ...any) *FlameError {
	return &FlameError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// MaxMessageSize is the largest gRPC message the client sends or accepts. Our
// server accepts the same; upstream's frontend accepts 4 MiB.
const MaxMessageSize = 64 << 20

const unavailableHint = `start one with "flmctl cluster start" or choose another with "flmctl context use"`

// wrap is the one place where a failed RPC becomes an error of this package. op
// names the operation, e.g. `get session "x"`. Cancellation and deadlines wrap
// context.Canceled and context.DeadlineExceeded instead, so callers can tell
// "the user gave up" from "Flame said no".
func (c *Connection) wrap(op string, err error) error {
	st := status.Convert(err)
	msg := st.Message()
	code := CodeInternal
	switch st.Code() {
	case codes.Canceled:
		if msg != context.Canceled.Error() { // e.g. "grpc: the client connection is closing"
			return fmt.Errorf("%s: %s: %w", op, msg, context.Canceled)
		}
		return fmt.Errorf("%s: %w", op, context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w", op, context.DeadlineExceeded)
	case codes.NotFound:
		code = CodeNotFound
	case codes.AlreadyExists:
		code = CodeAlreadyExists
	case codes.InvalidArgument:
		code = CodeInvalidArgument
	case codes.FailedPrecondition:
		code = CodeInvalidState
	case codes.Unavailable:
		code = CodeUnavailable
		msg = fmt.Sprintf("cannot reach Flame at %s: %s; %s", c.endpoint, msg, unavailableHint)
	case codes.ResourceExhausted, codes.OutOfRange:
		// grpc-go reports an oversized message as ResourceExhausted, tonic (upstream) as OutOfRange.
		if st.Code() == codes.ResourceExhausted || strings.Contains(msg, "too large") {
			code = CodeInvalidArgument
			msg = fmt.Sprintf("%s; messages are limited to %d MiB by this client and flmctl's server and to 4 MiB by upstream's: put large inputs or common data in the object cache and pass a reference instead", msg, MaxMessageSize>>20)
		}
	case codes.Internal:
		// Upstream refuses to close a session with running tasks with INTERNAL, we with
		// FAILED_PRECONDITION; both mean the same.
		if strings.Contains(msg, "running tasks") {
			code = CodeInvalidState
		}
	}
	return &FlameError{Code: code, Message: op + ": " + msg, err: err}
}

// resultError turns a non-zero Result of an application mutation into an error.
// Upstream reports "not found" and "already exists" only as Result text.
func resultError(op string, rc int32, msg string) error {
	if rc == 0 {
		return nil
	}
	if msg == "" {
		return errorf(CodeInternal, "%s: the server returned code %d without a message", op, rc)
	}
	code := CodeInternal
	switch lower := strings.ToLower(msg); {
	case strings.Contains(lower, "not found"):
		code = CodeNotFound
	case strings.Contains(lower, "already exist"):
		code = CodeAlreadyExists
	}
	return errorf(code, "%s: %s", op, msg)
}

// TaskFailedError reports a task that ended Failed or Cancelled. It unwraps to a
// *FlameError: CodeInternal for Failed (as flamepy), CodeInvalidState for Cancelled.
type TaskFailedError struct {
	SessionID string
	TaskID    string
	State     TaskState // TaskFailed or TaskCancelled
	Events    []Event   // the task's events as last seen, oldest first
	flame     *FlameError
}

func newTaskFailedError(t *Task) *TaskFailedError {
	e := &TaskFailedError{SessionID: t.SessionID, TaskID: t.ID, State: t.State, Events: t.Events}
	if t.State == TaskCancelled {
		e.flame = errorf(CodeInvalidState, "task %s of session %q was cancelled", t.ID, t.SessionID)
		return e
	}
	for _, ev := range t.Events {
		if ev.Code == int32(TaskFailed) && ev.Message != "" {
			e.flame = errorf(CodeInternal, "task %s of session %q failed: %s", t.ID, t.SessionID, ev.Message)
			return e
		}
	}
	e.flame = errorf(CodeInternal, "task %s failed without error message", t.ID)
	return e
}

// Error returns the failure message: the text of the task's Failed event if it has one.
func (e *TaskFailedError) Error() string { return e.flame.Message }

// Unwrap returns the *FlameError form of the failure.
func (e *TaskFailedError) Unwrap() error { return e.flame }

// NewError returns a FlameError with code and message that unwraps to cause
// (which may be nil). Packages built on this one, such as pkg/cache, use it
// so that every SDK error is matched the same way.
func NewError(code ErrorCode, message string, cause error) *FlameError {
	return &FlameError{Code: code, Message: message, err: cause}
}
