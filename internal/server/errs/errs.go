// Package errs is the session manager's error catalog: every error that
// crosses the wire is built here with the gRPC code upstream Flame uses for
// it, so handlers never call status.Errorf ad hoc and clients see the same
// codes from our server as from upstream's.
package errs

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is an error with the gRPC code it is reported with.
type Error struct {
	Code codes.Code
	Msg  string
}

// Error returns the message sent to the client.
func (e *Error) Error() string { return e.Msg }

// GRPCStatus lets status.FromError and grpc-go turn e into a status.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Msg) }

func newf(c codes.Code, format string, args ...any) *Error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

// NotFound reports a missing application, session, task, executor or node.
func NotFound(format string, args ...any) error { return newf(codes.NotFound, format, args...) }

// AlreadyExists reports a duplicate name or id.
func AlreadyExists(format string, args ...any) error {
	return newf(codes.AlreadyExists, format, args...)
}

// InvalidArgument reports a malformed request, or a state upstream reports
// as invalid (upstream maps InvalidConfig and InvalidState here).
func InvalidArgument(format string, args ...any) error {
	return newf(codes.InvalidArgument, format, args...)
}

// FailedPrecondition reports an operation refused in the current state
// where this project chose to differ from upstream's INTERNAL (spec §18.3).
func FailedPrecondition(format string, args ...any) error {
	return newf(codes.FailedPrecondition, format, args...)
}

// Internal reports a failure of the server itself (storage, invariants).
func Internal(format string, args ...any) error { return newf(codes.Internal, format, args...) }

// Unavailable reports that the server is shutting down.
func Unavailable(format string, args ...any) error { return newf(codes.Unavailable, format, args...) }

// Code returns the gRPC code of err: the catalog code, the code of a gRPC
// status, Canceled/DeadlineExceeded for context errors, else Internal.
func Code(err error) codes.Code {
	var e *Error
	switch {
	case err == nil:
		return codes.OK
	case errors.As(err, &e):
		return e.Code
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return status.FromContextError(err).Code()
}

// ToStatus converts err for the wire, keeping its message.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return status.Error(e.Code, err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.FromContextError(err).Err()
}
