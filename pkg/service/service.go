package service

import (
	"context"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// Service is a Flame application instance: the executor manager calls
// OnSessionEnter once when it binds the instance to a session, OnTaskInvoke
// once per task of that session, and OnSessionLeave once when it unbinds
// (also after a failed OnSessionEnter). Then it terminates the process.
//
// A returned error fails the call: the executor manager receives return code
// -1 with err.Error() as the message (a failed task carries it as its FAILED
// event). A panic is recovered and treated the same way, with the message
// "panic: <value>".
//
// The server never runs two methods at once, so an implementation needs no
// locking of its own. ctx is cancelled when the caller goes away or when the
// shutdown grace period (see WithGracePeriod) runs out.
type Service interface {
	// OnSessionEnter prepares the instance for the session in sc, for
	// example by decoding sc.CommonData().
	OnSessionEnter(ctx context.Context, sc *SessionContext) error
	// OnTaskInvoke runs one task and returns its output. A nil output is sent
	// as "no output"; an empty non-nil slice as an empty output.
	OnTaskInvoke(ctx context.Context, tc *TaskContext) ([]byte, error)
	// OnSessionLeave releases what OnSessionEnter acquired.
	OnSessionLeave(ctx context.Context) error
}

// ApplicationContext describes the application the instance was started for,
// with the values as registered (variables in Command are not expanded).
// Optional fields the application does not set are empty.
type ApplicationContext struct {
	Name string
	// Shim is the wire enum's name: "Host" or "Wasm".
	Shim             string
	Image            string
	Command          string
	WorkingDirectory string
	URL              string
	Installer        string
}

// SessionContext is the session an instance is bound to.
type SessionContext struct {
	SessionID   string
	Application ApplicationContext

	// commonData is nil when the session was created without common data.
	// It is unexported (read it with CommonData) so that a handler cannot
	// replace the session's data by accident.
	commonData []byte
}

// NewSessionContext returns a SessionContext carrying commonData (nil for
// none). The server builds these itself; the constructor is for tests that
// call a Service directly.
func NewSessionContext(sessionID string, app ApplicationContext, commonData []byte) *SessionContext {
	return &SessionContext{SessionID: sessionID, Application: app, commonData: commonData}
}

// CommonData returns the data the session was created with, or nil when it
// was created without any. The slice is shared: do not modify it.
func (sc *SessionContext) CommonData() []byte {
	if sc == nil {
		return nil
	}
	return sc.commonData
}

// TaskContext is one task to run.
type TaskContext struct {
	// TaskID is the task's decimal sequence number within its session.
	TaskID    string
	SessionID string
	// Input is the task's input, nil when the task was created without one.
	Input []byte
}

// TaskFunc adapts a function to a Service that does nothing on session enter
// and leave. It suits services that keep no per-session state.
type TaskFunc func(ctx context.Context, tc *TaskContext) ([]byte, error)

// OnSessionEnter does nothing.
func (f TaskFunc) OnSessionEnter(context.Context, *SessionContext) error { return nil }

// OnTaskInvoke calls f.
func (f TaskFunc) OnTaskInvoke(ctx context.Context, tc *TaskContext) ([]byte, error) {
	return f(ctx, tc)
}

// OnSessionLeave does nothing.
func (f TaskFunc) OnSessionLeave(context.Context) error { return nil }

func sessionFromProto(req *flamev1.SessionContext) *SessionContext {
	app := req.GetApplication()
	sc := &SessionContext{
		SessionID:  req.GetSessionId(),
		commonData: req.GetCommonData(),
	}
	if app != nil {
		sc.Application = ApplicationContext{
			Name:             app.GetName(),
			Shim:             app.GetShim().String(),
			Image:            app.GetImage(),
			Command:          app.GetCommand(),
			WorkingDirectory: app.GetWorkingDirectory(),
			URL:              app.GetUrl(),
			Installer:        app.GetInstaller(),
		}
	}
	return sc
}

func taskFromProto(req *flamev1.TaskContext) *TaskContext {
	return &TaskContext{
		TaskID:    req.GetTaskId(),
		SessionID: req.GetSessionId(),
		Input:     req.GetInput(),
	}
}
