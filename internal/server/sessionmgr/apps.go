package sessionmgr

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/flmctl/flmctl/internal/server/errs"
	"github.com/flmctl/flmctl/internal/server/store"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// Application mutations report controller errors in Result (return code -1),
// not as gRPC errors, exactly as upstream does (spec §3.5); only a malformed
// request is a gRPC error.

func failed(msg string) *flamev1.Result { return &flamev1.Result{ReturnCode: -1, Message: &msg} }

var ok = &flamev1.Result{}

// RegisterApplication adds an application (spec §4.1).
func (m *Manager) RegisterApplication(ctx context.Context, req *flamev1.RegisterApplicationRequest) (*flamev1.Result, error) {
	if req.GetApplication() == nil {
		return nil, errs.InvalidArgument("application spec is missing")
	}
	spec := proto.Clone(req.GetApplication()).(*flamev1.ApplicationSpec)
	if err := validateAppSpec(spec); err != nil {
		return nil, err
	}
	name := req.GetName()
	if msg := validateAppName(name); msg != "" {
		return failed(msg), nil
	}
	m.mu.Lock()
	if _, dup := m.apps[name]; dup {
		m.mu.Unlock()
		return failed(fmt.Sprintf("Application '%s' already exists", name)), nil
	}
	app := m.newApplication(name, spec, m.nowMillis())
	m.apps[name] = app
	b := m.persist.enqueue(nil, store.PutApplication(app))
	m.mu.Unlock()
	if err := b.wait(ctx); err != nil {
		return failed("register application " + name + ": " + err.Error()), nil
	}
	return ok, nil
}

// newApplication applies upstream's defaults to spec.
func (m *Manager) newApplication(name string, spec *flamev1.ApplicationSpec, created int64) *flamev1.Application {
	if spec.MaxInstances == nil {
		v := uint32(DefaultMaxInstances)
		spec.MaxInstances = &v
	}
	if spec.DelayRelease == nil {
		v := int64(DefaultDelayRelease)
		spec.DelayRelease = &v
	}
	return &flamev1.Application{
		Metadata: &flamev1.Metadata{Id: name, Name: name},
		Spec:     spec,
		Status:   &flamev1.ApplicationStatus{State: flamev1.ApplicationState_Enabled, CreationTime: created},
	}
}

// UpdateApplication replaces every attribute of an application that has no
// open session (spec §4.2).
func (m *Manager) UpdateApplication(ctx context.Context, req *flamev1.UpdateApplicationRequest) (*flamev1.Result, error) {
	if req.GetApplication() == nil {
		return nil, errs.InvalidArgument("application spec is missing")
	}
	spec := proto.Clone(req.GetApplication()).(*flamev1.ApplicationSpec)
	if err := validateAppSpec(spec); err != nil {
		return nil, err
	}
	name := req.GetName()
	m.mu.Lock()
	old, found := m.apps[name]
	if !found {
		m.mu.Unlock()
		return failed(fmt.Sprintf("application %s not found", name)), nil
	}
	if n := m.openSessionsOf(name); n > 0 {
		m.mu.Unlock()
		return failed(fmt.Sprintf("cannot update application '%s': it has %d open sessions; close them first", name, n)), nil
	}
	app := m.newApplication(name, spec, old.GetStatus().GetCreationTime())
	m.apps[name] = app
	b := m.persist.enqueue(nil, store.PutApplication(app))
	m.mu.Unlock()
	if err := b.wait(ctx); err != nil {
		return failed("update application " + name + ": " + err.Error()), nil
	}
	return ok, nil
}

// UnregisterApplication removes an application with no open session, and
// its closed sessions with their tasks (spec §4.2, §18.16).
func (m *Manager) UnregisterApplication(ctx context.Context, req *flamev1.UnregisterApplicationRequest) (*flamev1.Result, error) {
	name := req.GetName()
	m.mu.Lock()
	if _, found := m.apps[name]; !found {
		m.mu.Unlock()
		return failed(fmt.Sprintf("application %s not found", name)), nil
	}
	if n := m.openSessionsOf(name); n > 0 {
		m.mu.Unlock()
		return failed(fmt.Sprintf("Cannot unregister application '%s': has open sessions (%d); close them first", name, n)), nil
	}
	delete(m.apps, name)
	for id, s := range m.sessions {
		if s.spec.GetApplication() == name {
			delete(m.sessions, id)
		}
	}
	b := m.persist.enqueue(nil, store.DeleteApplication(name))
	m.mu.Unlock()
	if err := b.wait(ctx); err != nil {
		return failed("unregister application " + name + ": " + err.Error()), nil
	}
	return ok, nil
}

// openSessionsOf counts the open sessions of an application.
// m.mu must be held.
func (m *Manager) openSessionsOf(app string) int {
	n := 0
	for _, s := range m.sessions {
		if s.spec.GetApplication() == app && s.state == flamev1.SessionState_Open {
			n++
		}
	}
	return n
}

// GetApplication returns one application; NOT_FOUND when unknown.
func (m *Manager) GetApplication(_ context.Context, req *flamev1.GetApplicationRequest) (*flamev1.Application, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	app, found := m.apps[req.GetName()]
	if !found {
		return nil, errs.NotFound("application %s not found", req.GetName())
	}
	return app, nil
}

// ListApplication returns every application, by name.
func (m *Manager) ListApplication(context.Context, *flamev1.ListApplicationRequest) (*flamev1.ApplicationList, error) {
	m.mu.Lock()
	list := make([]*flamev1.Application, 0, len(m.apps))
	for _, a := range m.apps {
		list = append(list, a)
	}
	m.mu.Unlock()
	slices.SortFunc(list, func(a, b *flamev1.Application) int {
		return strings.Compare(a.GetMetadata().GetName(), b.GetMetadata().GetName())
	})
	return &flamev1.ApplicationList{Applications: list}, nil
}

// EnsureApplication registers app unless an application of that name exists
// (used for the default applications at start-up).
func (m *Manager) EnsureApplication(ctx context.Context, name string, spec *flamev1.ApplicationSpec) error {
	res, err := m.RegisterApplication(ctx, &flamev1.RegisterApplicationRequest{Name: name, Application: spec})
	if err != nil {
		return err
	}
	if res.GetReturnCode() != 0 && !strings.Contains(res.GetMessage(), "already exists") {
		return fmt.Errorf("register %s: %s", name, res.GetMessage())
	}
	return nil
}
