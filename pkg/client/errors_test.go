package client_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flmctl/flmctl/pkg/client"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		code     codes.Code
		msg      string
		want     client.ErrorCode
		sentinel error
	}{
		{codes.NotFound, "x", client.CodeNotFound, client.ErrNotFound},
		{codes.AlreadyExists, "session 'x' already exists", client.CodeAlreadyExists, client.ErrAlreadyExists},
		{codes.InvalidArgument, "bad id", client.CodeInvalidArgument, client.ErrInvalidArgument},
		{codes.FailedPrecondition, "session x has 2 running tasks", client.CodeInvalidState, client.ErrInvalidState},
		{codes.Internal, "Cannot close session with running tasks", client.CodeInvalidState, client.ErrInvalidState},
		{codes.Internal, "storage failed", client.CodeInternal, client.ErrInternal},
		{codes.Unavailable, "connection refused", client.CodeUnavailable, client.ErrUnavailable},
		{codes.Unimplemented, "no such method", client.CodeInternal, client.ErrInternal},
		{codes.Unknown, "boom", client.CodeInternal, client.ErrInternal},
		{codes.PermissionDenied, "no", client.CodeInternal, client.ErrInternal},
		{codes.ResourceExhausted, "grpc: received message larger than max (70000000 vs. 67108864)", client.CodeInvalidArgument, client.ErrInvalidArgument},
		{codes.OutOfRange, "Error, decoded message length too large: found 5000000 bytes, the limit is: 4194304 bytes", client.CodeInvalidArgument, client.ErrInvalidArgument},
		{codes.OutOfRange, "index out of range", client.CodeInternal, client.ErrInternal},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			conn := connect(t, &stubFrontend{
				GetSessionF: func(context.Context, *flamev1.GetSessionRequest) (*flamev1.Session, error) {
					return nil, status.Error(tt.code, tt.msg)
				},
			})
			_, err := conn.GetSession(t.Context(), "x")
			var fe *client.FlameError
			if !errors.As(err, &fe) {
				t.Fatalf("GetSession error %v (%T) is not a *FlameError", err, err)
			}
			if fe.Code != tt.want {
				t.Errorf("code = %v, want %v", fe.Code, tt.want)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			for _, other := range []error{client.ErrNotFound, client.ErrAlreadyExists, client.ErrUnavailable} {
				if other != tt.sentinel && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
			if msg := err.Error(); !strings.HasPrefix(msg, `get session "x": `) || !strings.Contains(msg, tt.msg) {
				t.Errorf("message = %q, want the operation and %q", msg, tt.msg)
			}
			if got := status.Code(err); got != tt.code {
				t.Errorf("status.Code(err) = %v, want the original %v", got, tt.code)
			}
		})
	}
}

func TestErrorMapping_Hints(t *testing.T) {
	conn := connect(t, &stubFrontend{
		GetSessionF: func(_ context.Context, r *flamev1.GetSessionRequest) (*flamev1.Session, error) {
			if r.SessionId == "big" {
				return nil, status.Error(codes.ResourceExhausted, "grpc: received message larger than max")
			}
			return nil, status.Error(codes.Unavailable, "connection reset")
		},
	})
	_, err := conn.GetSession(t.Context(), "big")
	for _, want := range []string{"64 MiB", "object cache"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("size error %v does not mention %q", err, want)
		}
	}
	_, err = conn.GetSession(t.Context(), "x")
	for _, want := range []string{stubEndpoint, "flmctl cluster start", "flmctl context use"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("unavailable error %v does not mention %q", err, want)
		}
	}
}

func TestErrorMapping_Context(t *testing.T) {
	conn := connect(t, &stubFrontend{
		GetSessionF: func(ctx context.Context, r *flamev1.GetSessionRequest) (*flamev1.Session, error) {
			if r.SessionId == "deadline" {
				return nil, status.Error(codes.DeadlineExceeded, "too slow")
			}
			<-ctx.Done()
			return nil, ctx.Err()
		},
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := conn.GetSession(ctx, "x")
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), `get session "x": `) {
		t.Errorf("cancelled GetSession error = %v, want context.Canceled with the operation", err)
	}
	_, err = conn.GetSession(t.Context(), "deadline")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GetSession error = %v, want context.DeadlineExceeded", err)
	}
}

func TestMessageSize(t *testing.T) {
	var got int
	stub := &stubFrontend{
		CreateTaskF: func(_ context.Context, r *flamev1.CreateTaskRequest) (*flamev1.Task, error) {
			got = len(r.GetTask().GetInput())
			return taskProto("s1", "1", flamev1.TaskState_Pending, nil), nil
		},
	}
	// Just above gRPC's default 4 MiB limit, below ours.
	const size = 4<<20 + 1<<10
	if _, err := openSession(t, stub).CreateTask(t.Context(), bytes.Repeat([]byte{'x'}, size)); err != nil || got != size {
		t.Fatalf("CreateTask(4 MiB + 1 KiB) = %v, server got %d bytes", err, got)
	}
	// gRPC's own size error, from a lower limit to keep the test small.
	small := client.WithDialOptions(grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(1 << 10)))
	_, err := openSession(t, stub, small).CreateTask(t.Context(), make([]byte, 2<<10))
	if !errors.Is(err, client.ErrInvalidArgument) || !strings.Contains(err.Error(), "larger than max") || !strings.Contains(err.Error(), "object cache") {
		t.Errorf("CreateTask(too large) error = %v, want ErrInvalidArgument suggesting the object cache", err)
	}
}

func TestResultErrors(t *testing.T) {
	tests := []struct {
		res      *flamev1.Result
		sentinel error // nil: success
		msg      string
	}{
		{&flamev1.Result{}, nil, ""},
		{&flamev1.Result{ReturnCode: -1, Message: new("application app already exists")}, client.ErrAlreadyExists, `register application "app": application app already exists`},
		{&flamev1.Result{ReturnCode: -1, Message: new("Application <app> Not Found")}, client.ErrNotFound, `register application "app": Application <app> Not Found`},
		{&flamev1.Result{ReturnCode: -1, Message: new("application has open sessions")}, client.ErrInternal, `register application "app": application has open sessions`},
		{&flamev1.Result{ReturnCode: 2}, client.ErrInternal, `register application "app": the server returned code 2 without a message`},
	}
	for _, tt := range tests {
		conn := connect(t, &stubFrontend{
			RegisterApplicationF: func(context.Context, *flamev1.RegisterApplicationRequest) (*flamev1.Result, error) {
				return tt.res, nil
			},
		})
		err := conn.RegisterApplication(t.Context(), "app", client.ApplicationAttributes{})
		if tt.sentinel == nil {
			if err != nil {
				t.Errorf("Result %v: error %v, want nil", tt.res, err)
			}
			continue
		}
		if !errors.Is(err, tt.sentinel) || err.Error() != tt.msg {
			t.Errorf("Result %v: error %v, want %q matching %v", tt.res, err, tt.msg, tt.sentinel)
		}
	}
}

func TestErrorCode_String(t *testing.T) {
	for code, want := range map[client.ErrorCode]string{
		client.CodeInvalidConfig: "INVALID_CONFIG", client.CodeInvalidState: "INVALID_STATE",
		client.CodeInvalidArgument: "INVALID_ARGUMENT", client.CodeInternal: "INTERNAL",
		client.CodeAlreadyExists: "ALREADY_EXISTS", client.CodeNotFound: "NOT_FOUND",
		client.CodeUnavailable: "UNAVAILABLE", client.ErrorCode(42): "ErrorCode(42)",
	} {
		if got := code.String(); got != want {
			t.Errorf("ErrorCode(%d).String() = %q, want %q", int(code), got, want)
		}
	}
	// flamepy's numbering, which the wire-facing codes keep.
	if client.CodeInvalidConfig != 0 || client.CodeNotFound != 5 || client.CodeUnavailable <= 5 {
		t.Error("error code values differ from flamepy's")
	}
}
