package cmdutil

import (
	"errors"
	"fmt"
)

// FlagError reports a command line that cannot work: a bad flag value, a
// missing argument, flags that exclude each other. flmctl exits with code 2
// and points at the command's --help.
type FlagError struct {
	err error
}

// FlagErrorf returns a *FlagError with a formatted message.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{err: fmt.Errorf(format, args...)}
}

// FlagErrorWrap turns err into a *FlagError; nil stays nil.
func FlagErrorWrap(err error) error {
	if err == nil {
		return nil
	}
	return &FlagError{err: err}
}

// Error returns the message.
func (e *FlagError) Error() string { return e.err.Error() }

// Unwrap returns the underlying error.
func (e *FlagError) Unwrap() error { return e.err }

// ErrSilent means the command has already told the user what went wrong;
// flmctl exits with code 1 without printing anything more.
var ErrSilent = errors.New("silent error")

// ErrCancel means the user stopped the command: answered no to a prompt or
// pressed Ctrl-C. flmctl exits with code 130.
var ErrCancel = errors.New("cancelled")

// NoResultsError means a read command found nothing to show. It is not a
// failure: flmctl exits with code 0 and prints the message on stderr only
// when stderr is a terminal, so scripts see empty output.
type NoResultsError struct {
	message string
}

// NewNoResultsError returns a *NoResultsError with the given message, e.g.
// `no contexts in /home/me/.flame/flame.yaml`.
func NewNoResultsError(message string) *NoResultsError {
	return &NoResultsError{message: message}
}

// Error returns the message.
func (e *NoResultsError) Error() string { return e.message }
