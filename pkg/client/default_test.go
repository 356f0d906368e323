package client_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"google.golang.org/grpc"

	"github.com/flmctl/flmctl/pkg/client"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

func TestPackageFunctions(t *testing.T) {
	var calls []string
	record := func(name string) { calls = append(calls, name) }
	conn := connect(t, &stubFrontend{
		CreateSessionF: func(_ context.Context, r *flamev1.CreateSessionRequest) (*flamev1.Session, error) {
			record("CreateSession")
			return echoSession(r.SessionId, r.Session), nil
		},
		OpenSessionF: func(_ context.Context, r *flamev1.OpenSessionRequest) (*flamev1.Session, error) {
			record("OpenSession")
			return echoSession(r.SessionId, r.Session), nil
		},
		CloseSessionF: func(_ context.Context, r *flamev1.CloseSessionRequest) (*flamev1.Session, error) {
			record("CloseSession")
			return sessionProto(r.SessionId, "app", flamev1.SessionState_Closed), nil
		},
		GetSessionF: func(_ context.Context, r *flamev1.GetSessionRequest) (*flamev1.Session, error) {
			record("GetSession")
			return sessionProto(r.SessionId, "app", flamev1.SessionState_Open), nil
		},
		ListSessionF: func(context.Context, *flamev1.ListSessionRequest) (*flamev1.SessionList, error) {
			record("ListSession")
			return &flamev1.SessionList{}, nil
		},
		RegisterApplicationF: func(context.Context, *flamev1.RegisterApplicationRequest) (*flamev1.Result, error) {
			record("RegisterApplication")
			return &flamev1.Result{}, nil
		},
		UnregisterApplicationF: func(context.Context, *flamev1.UnregisterApplicationRequest) (*flamev1.Result, error) {
			record("UnregisterApplication")
			return &flamev1.Result{}, nil
		},
		GetApplicationF: func(_ context.Context, r *flamev1.GetApplicationRequest) (*flamev1.Application, error) {
			record("GetApplication")
			return &flamev1.Application{Metadata: &flamev1.Metadata{Name: r.Name}}, nil
		},
		ListApplicationF: func(context.Context, *flamev1.ListApplicationRequest) (*flamev1.ApplicationList, error) {
			record("ListApplication")
			return &flamev1.ApplicationList{}, nil
		},
	})
	client.SetDefault(conn)
	t.Cleanup(func() { client.SetDefault(nil) })

	ctx := t.Context()
	if got, err := client.Default(ctx); err != nil || got != conn {
		t.Fatalf("Default = %v, %v; want the connection set", got, err)
	}
	steps := []func() error{
		func() error {
			_, err := client.CreateSession(ctx, client.SessionAttributes{Application: "app"})
			return err
		},
		func() error { _, err := client.OpenSession(ctx, "s1", nil); return err },
		func() error { _, err := client.CloseSession(ctx, "s1"); return err },
		func() error { _, err := client.GetSession(ctx, "s1"); return err },
		func() error { _, err := client.ListSessions(ctx); return err },
		func() error { return client.RegisterApplication(ctx, "app", client.ApplicationAttributes{}) },
		func() error { return client.UnregisterApplication(ctx, "app") },
		func() error { _, err := client.GetApplication(ctx, "app"); return err },
		func() error { _, err := client.ListApplications(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Errorf("step %d: %v", i, err)
		}
	}
	want := []string{"CreateSession", "OpenSession", "CloseSession", "GetSession", "ListSession",
		"RegisterApplication", "UnregisterApplication", "GetApplication", "ListApplication"}
	if len(calls) != len(want) {
		t.Fatalf("server calls = %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("call %d = %s, want %s", i, calls[i], want[i])
		}
	}
}

func TestDefault_FromEnvironment(t *testing.T) {
	client.SetDefault(nil)
	t.Cleanup(func() { client.SetDefault(nil) })
	t.Setenv("HOME", t.TempDir()) // no flame.yaml
	for _, env := range []string{"FLAME_CONFIG", "FLAME_CA_FILE", "FLAME_CACHE_ENDPOINT"} {
		t.Setenv(env, "")
	}

	t.Setenv("FLAME_ENDPOINT", "ftp://127.0.0.1:1")
	if _, err := client.ListApplications(t.Context()); !errors.Is(err, client.ErrInvalidConfig) {
		t.Errorf("with a bad FLAME_ENDPOINT: %v, want ErrInvalidConfig", err)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	flamev1.RegisterFrontendServer(srv, &stubFrontend{})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	t.Setenv("FLAME_ENDPOINT", "http://"+lis.Addr().String())
	first, err := client.Default(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if first.Endpoint() != "http://"+lis.Addr().String() {
		t.Errorf("Default endpoint = %q", first.Endpoint())
	}
	if again, err := client.Default(t.Context()); err != nil || again != first {
		t.Errorf("second Default = %p, %v; want the same connection %p", again, err, first)
	}
}
