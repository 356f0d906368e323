package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// Codec turns values into payload bytes and back. Typed uses one to decode
// task inputs, encode task outputs and decode common data (CommonData).
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSONCodec is the default Codec, encoding/json. Unknown fields are ignored
// on decode, so a newer client may send fields an older service does not know.
type JSONCodec struct{}

// Marshal encodes v as compact JSON like json.Marshal, except that it leaves
// <, > and & as they are: payloads are not HTML, and this way the bytes match
// what other Flame SDKs (serde_json, Python's json) write.
func (JSONCodec) Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Unmarshal decodes data into v with json.Unmarshal.
func (JSONCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// ErrNoCommonData is returned by CommonData when the session was created
// without common data (or with an empty one).
var ErrNoCommonData = errors.New("the session has no common data")

// TypedOption configures Typed.
type TypedOption func(*typedConfig)

type typedConfig struct {
	codec Codec
	enter func(ctx context.Context, sc *SessionContext) error
	leave func(ctx context.Context) error
}

// WithCodec sets the codec for inputs, outputs and common data; the default
// is JSONCodec.
func WithCodec(c Codec) TypedOption { return func(cfg *typedConfig) { cfg.codec = c } }

// WithSessionEnter runs fn on OnSessionEnter. Its ctx carries the session,
// so fn may call CommonData to decode (and so validate) the common data once;
// an error fails the session enter.
func WithSessionEnter(fn func(ctx context.Context, sc *SessionContext) error) TypedOption {
	return func(cfg *typedConfig) { cfg.enter = fn }
}

// WithSessionLeave runs fn on OnSessionLeave.
func WithSessionLeave(fn func(ctx context.Context) error) TypedOption {
	return func(cfg *typedConfig) { cfg.leave = fn }
}

// Typed returns a Service whose tasks are handled by fn, with the task input
// decoded into an In and fn's Out encoded as the task output, both through
// the codec (JSON unless WithCodec says otherwise).
//
// A task without input (absent or empty) gets the zero In; the codec is not
// called. An input the codec cannot decode fails the task with a message
// naming In, e.g. "decode task input as main.AddRequest: ...". Within fn,
// CommonData, SessionFromContext and TaskFromContext read the current
// session and task from ctx.
//
// For raw bytes in and out, implement Service directly or use TaskFunc.
func Typed[In, Out any](fn func(ctx context.Context, in In) (Out, error), opts ...TypedOption) Service {
	cfg := typedConfig{}
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.codec == nil {
		cfg.codec = JSONCodec{}
	}
	return &typedService[In, Out]{fn: fn, cfg: cfg}
}

type typedService[In, Out any] struct {
	fn  func(context.Context, In) (Out, error)
	cfg typedConfig

	mu      sync.Mutex      // guards session
	session *SessionContext // set by OnSessionEnter, cleared by OnSessionLeave
}

func (t *typedService[In, Out]) current() *SessionContext {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.session
}

func (t *typedService[In, Out]) OnSessionEnter(ctx context.Context, sc *SessionContext) error {
	t.mu.Lock()
	t.session = sc
	t.mu.Unlock()
	if t.cfg.enter == nil {
		return nil
	}
	return t.cfg.enter(t.withCall(ctx, sc, nil), sc)
}

func (t *typedService[In, Out]) OnTaskInvoke(ctx context.Context, tc *TaskContext) ([]byte, error) {
	if t.fn == nil {
		return nil, errors.New("typed service has no handler: pass a non-nil function to Typed")
	}
	var in In
	if len(tc.Input) > 0 {
		if err := t.cfg.codec.Unmarshal(tc.Input, &in); err != nil {
			return nil, fmt.Errorf("decode task input as %s: %w", typeName[In](), err)
		}
	}
	out, err := t.fn(t.withCall(ctx, t.current(), tc), in)
	if err != nil {
		return nil, err
	}
	data, err := t.cfg.codec.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode task output of type %s: %w", typeName[Out](), err)
	}
	return data, nil
}

func (t *typedService[In, Out]) OnSessionLeave(ctx context.Context) error {
	var err error
	if t.cfg.leave != nil {
		err = t.cfg.leave(t.withCall(ctx, t.current(), nil))
	}
	t.mu.Lock()
	t.session = nil
	t.mu.Unlock()
	return err
}

func (t *typedService[In, Out]) withCall(ctx context.Context, sc *SessionContext, tc *TaskContext) context.Context {
	return context.WithValue(ctx, callKey{}, &callInfo{session: sc, task: tc, codec: t.cfg.codec})
}

type callKey struct{}

// callInfo is what Typed puts in a handler's context.
type callInfo struct {
	session *SessionContext
	task    *TaskContext
	codec   Codec
}

func callFrom(ctx context.Context) *callInfo {
	ci, _ := ctx.Value(callKey{}).(*callInfo)
	return ci
}

// SessionFromContext returns the session of a call made through Typed (in
// the handler and the enter/leave hooks), and false elsewhere.
func SessionFromContext(ctx context.Context) (*SessionContext, bool) {
	ci := callFrom(ctx)
	if ci == nil || ci.session == nil {
		return nil, false
	}
	return ci.session, true
}

// TaskFromContext returns the task a Typed handler is running, and false
// elsewhere.
func TaskFromContext(ctx context.Context) (*TaskContext, bool) {
	ci := callFrom(ctx)
	if ci == nil || ci.task == nil {
		return nil, false
	}
	return ci.task, true
}

// CommonData decodes the current session's common data into a T with the
// Typed service's codec. It returns ErrNoCommonData when the session has
// none, and an error naming T when the data does not decode. It works in
// calls made through Typed only; decode once in a WithSessionEnter hook if
// the data is large.
func CommonData[T any](ctx context.Context) (T, error) {
	var v T
	ci := callFrom(ctx)
	if ci == nil || ci.session == nil {
		return v, errors.New("no session in this context: call CommonData from a handler or hook of a Typed service")
	}
	data := ci.session.CommonData()
	if len(data) == 0 {
		return v, ErrNoCommonData
	}
	if err := ci.codec.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("decode common data as %s: %w", typeName[T](), err)
	}
	return v, nil
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }
