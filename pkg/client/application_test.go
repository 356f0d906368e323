package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/flmctl/flmctl/pkg/client"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

var fullAttrs = client.ApplicationAttributes{
	Shim:             client.ShimWasm,
	Image:            "img:1",
	Description:      "an app",
	Labels:           []string{"a", "b"},
	Command:          "/bin/app",
	Arguments:        []string{"-v", "x"},
	Environments:     map[string]string{"Z": "26", "A": "1", "M": "13"},
	WorkingDirectory: "/work",
	MaxInstances:     new(uint32(7)),
	DelayRelease:     new(90 * time.Second),
	Schema:           &client.ApplicationSchema{Input: `{"type":"string"}`, Output: "  ", CommonData: ""},
	URL:              "file:///app.tgz",
	Installer:        "python",
}

var fullSpec = &flamev1.ApplicationSpec{
	Shim:             flamev1.Shim_Wasm,
	Description:      new("an app"),
	Labels:           []string{"a", "b"},
	Image:            new("img:1"),
	Command:          new("/bin/app"),
	Arguments:        []string{"-v", "x"},
	Environments:     []*flamev1.Environment{{Name: "A", Value: "1"}, {Name: "M", Value: "13"}, {Name: "Z", Value: "26"}},
	WorkingDirectory: new("/work"),
	MaxInstances:     new(uint32(7)),
	DelayRelease:     new(int64(90)),
	Schema:           &flamev1.ApplicationSchema{Input: new(`{"type":"string"}`)},
	Url:              new("file:///app.tgz"),
	Installer:        new("python"),
}

func TestRegisterAndUpdateApplication(t *testing.T) {
	var register, update *flamev1.RegisterApplicationRequest
	conn := connect(t, &stubFrontend{
		RegisterApplicationF: func(_ context.Context, r *flamev1.RegisterApplicationRequest) (*flamev1.Result, error) {
			register = r
			return &flamev1.Result{}, nil
		},
		UpdateApplicationF: func(_ context.Context, r *flamev1.UpdateApplicationRequest) (*flamev1.Result, error) {
			update = &flamev1.RegisterApplicationRequest{Name: r.Name, Application: r.Application}
			return &flamev1.Result{}, nil
		},
	})
	if err := conn.RegisterApplication(t.Context(), "app", fullAttrs); err != nil {
		t.Fatal(err)
	}
	want := &flamev1.RegisterApplicationRequest{Name: "app", Application: fullSpec}
	if d := cmp.Diff(want, register, protocmp.Transform()); d != "" {
		t.Errorf("RegisterApplication request (-want +got):\n%s", d)
	}
	if err := conn.UpdateApplication(t.Context(), "app", fullAttrs); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, update, protocmp.Transform()); d != "" {
		t.Errorf("UpdateApplication request (-want +got):\n%s", d)
	}

	// Zero attributes send only the defaults: no optional field, no schema.
	if err := conn.RegisterApplication(t.Context(), "min", client.ApplicationAttributes{Schema: &client.ApplicationSchema{Input: " "}}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&flamev1.RegisterApplicationRequest{Name: "min", Application: &flamev1.ApplicationSpec{}}, register, protocmp.Transform()); d != "" {
		t.Errorf("minimal request (-want +got):\n%s", d)
	}
}

func TestRegisterApplication_BadDelayRelease(t *testing.T) {
	called := false
	conn := connect(t, &stubFrontend{
		RegisterApplicationF: func(context.Context, *flamev1.RegisterApplicationRequest) (*flamev1.Result, error) {
			called = true
			return &flamev1.Result{}, nil
		},
	})
	for _, d := range []time.Duration{1500 * time.Millisecond, -time.Second} {
		err := conn.RegisterApplication(t.Context(), "app", client.ApplicationAttributes{DelayRelease: &d})
		if !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("DelayRelease %v: error %v, want ErrInvalidArgument", d, err)
		}
	}
	if called {
		t.Error("an invalid request reached the server")
	}
}

func TestUnregisterApplication(t *testing.T) {
	var got string
	conn := connect(t, &stubFrontend{
		UnregisterApplicationF: func(_ context.Context, r *flamev1.UnregisterApplicationRequest) (*flamev1.Result, error) {
			got = r.Name
			if r.Name == "busy" {
				return &flamev1.Result{ReturnCode: -1, Message: new("application busy has open sessions")}, nil
			}
			return &flamev1.Result{}, nil
		},
	})
	if err := conn.UnregisterApplication(t.Context(), "app"); err != nil || got != "app" {
		t.Errorf("UnregisterApplication = %v, server got %q", err, got)
	}
	err := conn.UnregisterApplication(t.Context(), "busy")
	if want := `unregister application "busy": application busy has open sessions`; err == nil || err.Error() != want {
		t.Errorf("UnregisterApplication(busy) = %v, want %q", err, want)
	}
}

func TestGetAndListApplications(t *testing.T) {
	appProto := &flamev1.Application{
		Metadata: &flamev1.Metadata{Id: "app", Name: "app"},
		Spec:     fullSpec,
		Status:   &flamev1.ApplicationStatus{State: flamev1.ApplicationState_Enabled, CreationTime: 1700000000123},
	}
	conn := connect(t, &stubFrontend{
		GetApplicationF: func(_ context.Context, r *flamev1.GetApplicationRequest) (*flamev1.Application, error) {
			if r.Name != "app" {
				return nil, status.Errorf(codes.NotFound, "application %s not found", r.Name)
			}
			return appProto, nil
		},
		ListApplicationF: func(context.Context, *flamev1.ListApplicationRequest) (*flamev1.ApplicationList, error) {
			return &flamev1.ApplicationList{Applications: []*flamev1.Application{appProto, {Metadata: &flamev1.Metadata{Name: "bare"}}}}, nil
		},
	})
	app, err := conn.GetApplication(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	wantAttrs := fullAttrs
	wantAttrs.Schema = &client.ApplicationSchema{Input: `{"type":"string"}`}
	if app.Name != "app" || app.State != client.ApplicationEnabled || !app.CreationTime.Equal(time.UnixMilli(1700000000123)) {
		t.Errorf("application = %q %v %v", app.Name, app.State, app.CreationTime)
	}
	if d := cmp.Diff(wantAttrs, app.ApplicationAttributes); d != "" {
		t.Errorf("attributes (-want +got):\n%s", d)
	}
	if !proto.Equal(app.Proto(), appProto) {
		t.Errorf("Proto() = %v, want the message sent", app.Proto())
	}

	_, err = conn.GetApplication(t.Context(), "nope")
	if !errors.Is(err, client.ErrNotFound) || err.Error() != `get application "nope": application nope not found` {
		t.Errorf("GetApplication(nope) = %v", err)
	}

	apps, err := conn.ListApplications(t.Context())
	if err != nil || len(apps) != 2 {
		t.Fatalf("ListApplications = %v, %v", apps, err)
	}
	bare := apps[1]
	if bare.Name != "bare" || !bare.CreationTime.IsZero() || bare.DelayRelease != nil || bare.MaxInstances != nil ||
		bare.Environments != nil || bare.Schema != nil || bare.URL != "" {
		t.Errorf("bare application = %+v, want zero attributes", bare)
	}
}
