package client

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// ApplicationAttributes describe how executors run an application. Empty
// strings and nil pointers are left out of the request, so the server applies
// its defaults (for example 1000000 max instances and a 60 s delay release).
type ApplicationAttributes struct {
	Shim             Shim
	Image            string
	Description      string
	Labels           []string
	Command          string
	Arguments        []string
	Environments     map[string]string
	WorkingDirectory string
	MaxInstances     *uint32
	// DelayRelease is how long a bound executor waits for the next task before it
	// is released. It travels in whole seconds.
	DelayRelease *time.Duration
	Schema       *ApplicationSchema
	URL          string
	Installer    string
}

// ApplicationSchema holds JSON Schema documents for task input, task output and
// session common data. Blank documents are left out.
type ApplicationSchema struct {
	Input      string
	Output     string
	CommonData string
}

// Application is a registered application.
type Application struct {
	Name         string
	State        ApplicationState
	CreationTime time.Time
	ApplicationAttributes
	proto *flamev1.Application
}

// Proto returns the application as received, for printers.
func (a *Application) Proto() *flamev1.Application { return a.proto }

func (a ApplicationAttributes) spec(op string) (*flamev1.ApplicationSpec, error) {
	spec := &flamev1.ApplicationSpec{
		Shim:             flamev1.Shim(a.Shim),
		Description:      optional(a.Description),
		Labels:           a.Labels,
		Image:            optional(a.Image),
		Command:          optional(a.Command),
		Arguments:        a.Arguments,
		WorkingDirectory: optional(a.WorkingDirectory),
		MaxInstances:     a.MaxInstances,
		Url:              optional(a.URL),
		Installer:        optional(a.Installer),
	}
	// Sorted so that equal attributes always make equal requests.
	for _, name := range slices.Sorted(maps.Keys(a.Environments)) {
		spec.Environments = append(spec.Environments, &flamev1.Environment{Name: name, Value: a.Environments[name]})
	}
	if d := a.DelayRelease; d != nil {
		if *d < 0 || *d%time.Second != 0 {
			return nil, errorf(CodeInvalidArgument, "%s: delay release %v is not a whole, non-negative number of seconds", op, *d)
		}
		spec.DelayRelease = new(int64(*d / time.Second))
	}
	if s := a.Schema; s != nil {
		schema := &flamev1.ApplicationSchema{Input: optionalSchema(s.Input), Output: optionalSchema(s.Output), CommonData: optionalSchema(s.CommonData)}
		if schema.Input != nil || schema.Output != nil || schema.CommonData != nil {
			spec.Schema = schema
		}
	}
	return spec, nil
}

func applicationFromProto(p *flamev1.Application) *Application {
	spec := p.GetSpec()
	if spec == nil {
		spec = &flamev1.ApplicationSpec{} // for the optional fields read directly below
	}
	a := &Application{
		Name:         p.GetMetadata().GetName(),
		State:        ApplicationState(p.GetStatus().GetState()),
		CreationTime: fromMillis(p.GetStatus().GetCreationTime()),
		ApplicationAttributes: ApplicationAttributes{
			Shim:             Shim(spec.GetShim()),
			Image:            spec.GetImage(),
			Description:      spec.GetDescription(),
			Labels:           spec.GetLabels(),
			Command:          spec.GetCommand(),
			Arguments:        spec.GetArguments(),
			WorkingDirectory: spec.GetWorkingDirectory(),
			MaxInstances:     spec.MaxInstances,
			URL:              spec.GetUrl(),
			Installer:        spec.GetInstaller(),
		},
		proto: p,
	}
	if envs := spec.GetEnvironments(); len(envs) > 0 {
		a.Environments = make(map[string]string, len(envs))
		for _, e := range envs {
			a.Environments[e.GetName()] = e.GetValue()
		}
	}
	if spec.DelayRelease != nil {
		a.DelayRelease = new(time.Duration(*spec.DelayRelease) * time.Second)
	}
	if s := spec.GetSchema(); s != nil {
		a.Schema = &ApplicationSchema{Input: s.GetInput(), Output: s.GetOutput(), CommonData: s.GetCommonData()}
	}
	return a
}

// RegisterApplication registers an application under name.
func (c *Connection) RegisterApplication(ctx context.Context, name string, attrs ApplicationAttributes) error {
	op := "register application " + strconv.Quote(name)
	spec, err := attrs.spec(op)
	if err != nil {
		return err
	}
	res, err := c.frontend.RegisterApplication(ctx, &flamev1.RegisterApplicationRequest{Name: name, Application: spec})
	if err != nil {
		return c.wrap(op, err)
	}
	return resultError(op, res.GetReturnCode(), res.GetMessage())
}

// UpdateApplication replaces all attributes of the application name.
func (c *Connection) UpdateApplication(ctx context.Context, name string, attrs ApplicationAttributes) error {
	op := "update application " + strconv.Quote(name)
	spec, err := attrs.spec(op)
	if err != nil {
		return err
	}
	res, err := c.frontend.UpdateApplication(ctx, &flamev1.UpdateApplicationRequest{Name: name, Application: spec})
	if err != nil {
		return c.wrap(op, err)
	}
	return resultError(op, res.GetReturnCode(), res.GetMessage())
}

// UnregisterApplication removes the application name and its closed sessions.
// Servers refuse while it has open sessions.
func (c *Connection) UnregisterApplication(ctx context.Context, name string) error {
	op := "unregister application " + strconv.Quote(name)
	res, err := c.frontend.UnregisterApplication(ctx, &flamev1.UnregisterApplicationRequest{Name: name})
	if err != nil {
		return c.wrap(op, err)
	}
	return resultError(op, res.GetReturnCode(), res.GetMessage())
}

// GetApplication returns the application name; an unknown name is an error
// matching ErrNotFound.
func (c *Connection) GetApplication(ctx context.Context, name string) (*Application, error) {
	p, err := c.frontend.GetApplication(ctx, &flamev1.GetApplicationRequest{Name: name})
	if err != nil {
		return nil, c.wrap("get application "+strconv.Quote(name), err)
	}
	return applicationFromProto(p), nil
}

// ListApplications returns all registered applications in the server's order.
func (c *Connection) ListApplications(ctx context.Context) ([]*Application, error) {
	list, err := c.frontend.ListApplication(ctx, &flamev1.ListApplicationRequest{})
	if err != nil {
		return nil, c.wrap("list applications", err)
	}
	apps := make([]*Application, len(list.GetApplications()))
	for i, p := range list.GetApplications() {
		apps[i] = applicationFromProto(p)
	}
	return apps, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// optionalSchema drops blank documents, as flamepy does.
func optionalSchema(s string) *string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return &s
}

// fromMillis converts a wire timestamp (Unix milliseconds, 0 = unset).
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
