package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flmctl/flmctl/pkg/service"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

type addRequest struct {
	A int `json:"a"`
	B int `json:"b"`
}

type addResponse struct {
	Sum int `json:"sum"`
}

type config struct {
	Scale int `json:"scale"`
}

func add(_ context.Context, req addRequest) (addResponse, error) {
	return addResponse{Sum: req.A + req.B}, nil
}

func TestTyped_JSONRoundTripOverSocket(t *testing.T) {
	ts := startServer(t, service.Typed(add))
	tr, err := ts.client.OnTaskInvoke(callCtx(t), &flamev1.TaskContext{TaskId: "1", Input: []byte(`{"a":2,"b":40}`)}, waitForReady)
	if err != nil {
		t.Fatal(err)
	}
	if tr.GetReturnCode() != 0 {
		t.Fatalf("task failed: %s", tr.GetMessage())
	}
	var got addResponse
	if err := json.Unmarshal(tr.GetOutput(), &got); err != nil {
		t.Fatalf("output %q is not JSON: %v", tr.GetOutput(), err)
	}
	if got.Sum != 42 {
		t.Errorf("sum = %d, want 42", got.Sum)
	}
}

func TestTyped_DecodeErrorNamesExpectedType(t *testing.T) {
	ts := startServer(t, service.Typed(add))
	tr, err := ts.client.OnTaskInvoke(callCtx(t), &flamev1.TaskContext{TaskId: "1", Input: []byte(`{"a":"two"}`)}, waitForReady)
	if err != nil {
		t.Fatal(err)
	}
	if tr.GetReturnCode() != -1 || !strings.HasPrefix(tr.GetMessage(), "decode task input as service_test.addRequest: ") {
		t.Errorf("result = %v, want -1 with a message naming service_test.addRequest", tr)
	}
}

func TestTyped_NoInputGivesZeroValue(t *testing.T) {
	svc := service.Typed(func(_ context.Context, req *addRequest) (string, error) {
		return fmt.Sprintf("nil=%v", req == nil), nil
	})
	for _, input := range [][]byte{nil, {}} {
		out, err := svc.OnTaskInvoke(context.Background(), &service.TaskContext{TaskID: "1", Input: input})
		if err != nil || string(out) != `"nil=true"` {
			t.Errorf("input %v: output %s, %v; want \"nil=true\"", input, out, err)
		}
	}
}

func TestTyped_HandlerErrorPassesThrough(t *testing.T) {
	svc := service.Typed(func(context.Context, addRequest) (addResponse, error) {
		return addResponse{}, errors.New("overflow: a+b does not fit")
	})
	out, err := svc.OnTaskInvoke(context.Background(), &service.TaskContext{Input: []byte(`{}`)})
	if err == nil || err.Error() != "overflow: a+b does not fit" || out != nil {
		t.Errorf("OnTaskInvoke = %q, %v; want the handler's error unchanged", out, err)
	}
}

func TestTyped_OutputEncodeErrorNamesType(t *testing.T) {
	svc := service.Typed(func(context.Context, addRequest) (chan int, error) { return make(chan int), nil })
	_, err := svc.OnTaskInvoke(context.Background(), &service.TaskContext{})
	if err == nil || !strings.Contains(err.Error(), "encode task output of type chan int") {
		t.Errorf("OnTaskInvoke error = %v, want it to name chan int", err)
	}
}

func TestTyped_NilHandler(t *testing.T) {
	svc := service.Typed[addRequest, addResponse](nil)
	_, err := svc.OnTaskInvoke(context.Background(), &service.TaskContext{})
	if err == nil || !strings.Contains(err.Error(), "no handler") {
		t.Errorf("OnTaskInvoke = %v, want a no-handler error", err)
	}
}

func TestTyped_SessionHooksAndContextAccessors(t *testing.T) {
	var calls []string
	svc := service.Typed(
		func(ctx context.Context, req addRequest) (addResponse, error) {
			cfg, err := service.CommonData[config](ctx)
			if err != nil {
				return addResponse{}, err
			}
			sc, ok := service.SessionFromContext(ctx)
			if !ok || sc.SessionID != "s1" {
				return addResponse{}, fmt.Errorf("session from context = %v, %v", sc, ok)
			}
			tc, ok := service.TaskFromContext(ctx)
			if !ok || tc.TaskID != "7" {
				return addResponse{}, fmt.Errorf("task from context = %v, %v", tc, ok)
			}
			return addResponse{Sum: cfg.Scale * (req.A + req.B)}, nil
		},
		service.WithSessionEnter(func(ctx context.Context, sc *service.SessionContext) error {
			cfg, err := service.CommonData[config](ctx)
			calls = append(calls, fmt.Sprintf("enter %s scale=%d", sc.SessionID, cfg.Scale))
			return err
		}),
		service.WithSessionLeave(func(ctx context.Context) error {
			_, ok := service.SessionFromContext(ctx)
			calls = append(calls, fmt.Sprintf("leave session=%v", ok))
			return nil
		}),
	)
	ctx := context.Background()
	sc := service.NewSessionContext("s1", service.ApplicationContext{Name: "calc"}, []byte(`{"scale":10}`))
	if err := svc.OnSessionEnter(ctx, sc); err != nil {
		t.Fatalf("OnSessionEnter: %v", err)
	}
	out, err := svc.OnTaskInvoke(ctx, &service.TaskContext{TaskID: "7", SessionID: "s1", Input: []byte(`{"a":1,"b":2}`)})
	if err != nil || string(out) != `{"sum":30}` {
		t.Fatalf("OnTaskInvoke = %s, %v; want {\"sum\":30}", out, err)
	}
	if err := svc.OnSessionLeave(ctx); err != nil {
		t.Fatalf("OnSessionLeave: %v", err)
	}
	want := []string{"enter s1 scale=10", "leave session=true"}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("hook calls = %q, want %q", calls, want)
	}

	// After leave, the session is gone.
	_, err = svc.OnTaskInvoke(ctx, &service.TaskContext{TaskID: "8", Input: []byte(`{}`)})
	if err == nil || !strings.Contains(err.Error(), "no session in this context") {
		t.Errorf("task after leave: %v, want a no-session error", err)
	}
}

func TestTyped_EnterHookErrorFailsSessionEnter(t *testing.T) {
	svc := service.Typed(add, service.WithSessionEnter(func(ctx context.Context, _ *service.SessionContext) error {
		_, err := service.CommonData[config](ctx)
		return err
	}))
	ctx := context.Background()

	err := svc.OnSessionEnter(ctx, service.NewSessionContext("s", service.ApplicationContext{}, nil))
	if !errors.Is(err, service.ErrNoCommonData) {
		t.Errorf("enter without common data = %v, want ErrNoCommonData", err)
	}
	err = svc.OnSessionEnter(ctx, service.NewSessionContext("s", service.ApplicationContext{}, []byte(`{"scale":"big"}`)))
	if err == nil || !strings.HasPrefix(err.Error(), "decode common data as service_test.config: ") {
		t.Errorf("enter with bad common data = %v, want an error naming service_test.config", err)
	}
}

func TestCommonData_OutsideTyped(t *testing.T) {
	_, err := service.CommonData[config](context.Background())
	if err == nil || !strings.Contains(err.Error(), "Typed") {
		t.Errorf("CommonData outside Typed = %v, want an error pointing at Typed", err)
	}
	if _, ok := service.SessionFromContext(context.Background()); ok {
		t.Error("SessionFromContext outside Typed reported a session")
	}
	if _, ok := service.TaskFromContext(context.Background()); ok {
		t.Error("TaskFromContext outside Typed reported a task")
	}
}

// tagCodec is JSON behind a "v1:" tag, to show that Typed uses the given
// codec for inputs, outputs and common data alike.
type tagCodec struct{}

func (tagCodec) Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append([]byte("v1:"), b...), err
}

func (tagCodec) Unmarshal(data []byte, v any) error {
	rest, ok := bytes.CutPrefix(data, []byte("v1:"))
	if !ok {
		return errors.New(`missing "v1:" tag`)
	}
	return json.Unmarshal(rest, v)
}

func TestTyped_WithCodec(t *testing.T) {
	svc := service.Typed(func(ctx context.Context, req addRequest) (addResponse, error) {
		cfg, err := service.CommonData[config](ctx)
		return addResponse{Sum: cfg.Scale + req.A + req.B}, err
	}, service.WithCodec(tagCodec{}))
	ctx := context.Background()
	if err := svc.OnSessionEnter(ctx, service.NewSessionContext("s", service.ApplicationContext{}, []byte(`v1:{"scale":100}`))); err != nil {
		t.Fatal(err)
	}
	out, err := svc.OnTaskInvoke(ctx, &service.TaskContext{Input: []byte(`v1:{"a":1,"b":2}`)})
	if err != nil || string(out) != `v1:{"sum":103}` {
		t.Errorf("OnTaskInvoke = %s, %v; want v1:{\"sum\":103}", out, err)
	}
	_, err = svc.OnTaskInvoke(ctx, &service.TaskContext{Input: []byte(`{"a":1}`)})
	if err == nil || !strings.Contains(err.Error(), `missing "v1:" tag`) {
		t.Errorf("untagged input: %v, want the codec's error", err)
	}
}

func TestJSONCodec_LeavesHTMLCharactersAlone(t *testing.T) {
	out, err := service.JSONCodec{}.Marshal(map[string]string{"message": "a <b> & c"})
	if err != nil || string(out) != `{"message":"a <b> & c"}` {
		t.Errorf("Marshal = %s, %v; want the characters unescaped and no trailing newline", out, err)
	}
	var back map[string]string
	if err := (service.JSONCodec{}).Unmarshal(out, &back); err != nil || back["message"] != "a <b> & c" {
		t.Errorf("Unmarshal = %v, %v", back, err)
	}
}
