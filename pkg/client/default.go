package client

import (
	"context"

	"github.com/flmctl/flmctl/internal/lazy"
	"github.com/flmctl/flmctl/pkg/contexts"
)

var defaultConn lazy.Value[*Connection]

// Default returns the process-wide connection used by the package-level
// functions. The first call connects to the cluster of the current flame.yaml
// context (with FLAME_ENDPOINT and FLAME_CA_FILE applied); later calls return
// the same connection. A failed attempt is not remembered, so the next call
// tries again. It is safe for concurrent use.
func Default(ctx context.Context) (*Connection, error) {
	return defaultConn.Get(func() (*Connection, error) {
		r, err := contexts.Resolve(contexts.Options{})
		if err != nil {
			return nil, &FlameError{Code: CodeInvalidConfig, Message: "resolve the Flame context: " + err.Error(), err: err}
		}
		return ConnectResolved(ctx, r)
	})
}

// SetDefault replaces the connection returned by Default (nil makes the next
// Default call connect again). It does not close the previous one.
func SetDefault(c *Connection) { defaultConn.Set(c) }

// CreateSession creates a session on the default connection; see Connection.CreateSession.
func CreateSession(ctx context.Context, attrs SessionAttributes) (*Session, error) {
	return withDefault(ctx, func(c *Connection) (*Session, error) { return c.CreateSession(ctx, attrs) })
}

// OpenSession opens a session on the default connection; see Connection.OpenSession.
func OpenSession(ctx context.Context, id string, spec *SessionAttributes) (*Session, error) {
	return withDefault(ctx, func(c *Connection) (*Session, error) { return c.OpenSession(ctx, id, spec) })
}

// CloseSession closes a session on the default connection; see Connection.CloseSession.
func CloseSession(ctx context.Context, id string) (*Session, error) {
	return withDefault(ctx, func(c *Connection) (*Session, error) { return c.CloseSession(ctx, id) })
}

// GetSession gets a session from the default connection; see Connection.GetSession.
func GetSession(ctx context.Context, id string) (*Session, error) {
	return withDefault(ctx, func(c *Connection) (*Session, error) { return c.GetSession(ctx, id) })
}

// ListSessions lists sessions on the default connection; see Connection.ListSessions.
func ListSessions(ctx context.Context) ([]*Session, error) {
	return withDefault(ctx, func(c *Connection) ([]*Session, error) { return c.ListSessions(ctx) })
}

// RegisterApplication registers an application on the default connection; see
// Connection.RegisterApplication.
func RegisterApplication(ctx context.Context, name string, attrs ApplicationAttributes) error {
	_, err := withDefault(ctx, func(c *Connection) (struct{}, error) {
		return struct{}{}, c.RegisterApplication(ctx, name, attrs)
	})
	return err
}

// UnregisterApplication unregisters an application on the default connection;
// see Connection.UnregisterApplication.
func UnregisterApplication(ctx context.Context, name string) error {
	_, err := withDefault(ctx, func(c *Connection) (struct{}, error) {
		return struct{}{}, c.UnregisterApplication(ctx, name)
	})
	return err
}

// GetApplication gets an application from the default connection; see
// Connection.GetApplication.
func GetApplication(ctx context.Context, name string) (*Application, error) {
	return withDefault(ctx, func(c *Connection) (*Application, error) { return c.GetApplication(ctx, name) })
}

// ListApplications lists applications on the default connection; see
// Connection.ListApplications.
func ListApplications(ctx context.Context) ([]*Application, error) {
	return withDefault(ctx, func(c *Connection) ([]*Application, error) { return c.ListApplications(ctx) })
}

func withDefault[T any](ctx context.Context, call func(*Connection) (T, error)) (T, error) {
	c, err := Default(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	return call(c)
}
