package executor

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/flmctl/flmctl/internal/instancewire"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Back-off between repeated Backend calls after a failure. Upstream retries
// at once; a short back-off keeps a broken session manager from spinning
// the CPU.
const (
	retryMin = 10 * time.Millisecond
	retryMax = 2 * time.Second
)

// executor runs the loop of spec §6.3 for one executor in its own
// goroutine. Backend calls for the executor, and calls to its instance, are
// made from that goroutine only, so they are strictly sequential.
type executor struct {
	m      *Manager
	id     string
	log    *slog.Logger
	resreq *flamev1.ResourceRequirement
	// ctx ends when the manager stops or the executor is released.
	ctx    context.Context
	cancel context.CancelFunc

	// mu guards state and sessionID, which other goroutines read through
	// describe.
	mu        sync.Mutex
	state     flamev1.ExecutorState
	sessionID string

	// The fields below belong to the loop goroutine.

	inst       *instance           // the instance of the current binding
	cause      error               // *InstanceExitError that made the executor unbind
	unbindSent bool                // UnbindExecutor succeeded for the current unbinding
	failures   int                 // consecutive failed Backend calls, for the back-off
	retry      *time.Timer         // back-off timer, reused
	tc         flamev1.TaskContext // reused for every OnTaskInvoke
}

func (m *Manager) newExecutor(id string, x *flamev1.Executor, state flamev1.ExecutorState) *executor {
	ctx, cancel := context.WithCancel(m.ctx)
	resreq := proto.CloneOf(x.GetSpec().GetResreq())
	if resreq == nil {
		resreq = &flamev1.ResourceRequirement{}
	}
	return &executor{
		m:         m,
		id:        id,
		log:       m.log.With("executor", id),
		resreq:    resreq,
		ctx:       ctx,
		cancel:    cancel,
		state:     state,
		sessionID: x.GetStatus().GetSessionId(),
	}
}

func (e *executor) getState() flamev1.ExecutorState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state
}

func (e *executor) setState(s flamev1.ExecutorState) {
	e.mu.Lock()
	e.state = s
	if s == flamev1.ExecutorState_ExecutorIdle || s == flamev1.ExecutorState_ExecutorReleasing || s == flamev1.ExecutorState_ExecutorReleased {
		e.sessionID = ""
	}
	e.mu.Unlock()
}

// describe returns the executor as RegisterNode reports it: every field the
// session manager reads is filled.
func (e *executor) describe() *flamev1.Executor {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &flamev1.Executor{
		Metadata: &flamev1.Metadata{Id: e.id, Name: e.id},
		Spec:     &flamev1.ExecutorSpec{Node: e.m.node, Resreq: proto.CloneOf(e.resreq), Shim: flamev1.Shim_Host},
		Status:   &flamev1.ExecutorStatus{State: e.state},
	}
	if e.sessionID != "" {
		x.Status.SessionId = proto.String(e.sessionID)
	}
	return x
}

// run is the executor's loop: one state handler per iteration, until the
// executor is released, forgotten or the manager stops. On the way out it
// stops the instance, if any.
func (e *executor) run() {
	defer e.cancel()
	defer e.teardown()
	e.log.Debug("executor started", "state", e.getState())
	for e.ctx.Err() == nil {
		switch e.getState() {
		case flamev1.ExecutorState_ExecutorVoid:
			e.register()
		case flamev1.ExecutorState_ExecutorIdle:
			e.bind()
		case flamev1.ExecutorState_ExecutorBound:
			e.serve()
		case flamev1.ExecutorState_ExecutorUnbinding:
			e.unbind()
		case flamev1.ExecutorState_ExecutorReleasing:
			e.release()
		default: // Released (Binding never persists across iterations)
			e.log.Debug("executor ended")
			return
		}
	}
}

// teardown stops the instance left when the loop ends early (manager
// stopping, executor released or unknown to the session manager).
func (e *executor) teardown() {
	if e.retry != nil {
		e.retry.Stop()
	}
	if e.inst != nil {
		e.inst.stop(e.m.stopGrace)
		e.inst.cleanup()
		e.inst = nil
	}
}

// verdict is what the loop makes of a failed Backend call.
type verdict int

const (
	// again: transient; the same call runs again after a back-off.
	again verdict = iota
	// conflict: the session manager disagrees about the executor's state;
	// the caller takes its step's fallback.
	conflict
	// gone: the session manager does not know the executor, or the
	// executor is stopping; the loop ends.
	gone
)

// judge classifies a failed Backend call (see Backend) and waits out the
// back-off for again and conflict. For gone it moves the executor to
// Released, which ends the loop.
func (e *executor) judge(op string, err error) verdict {
	if e.ctx.Err() != nil {
		e.setState(flamev1.ExecutorState_ExecutorReleased)
		return gone
	}
	v := again
	switch status.Code(err) {
	case codes.NotFound:
		e.log.Warn("session manager does not know the executor; dropping it", "op", op, "err", err)
		e.setState(flamev1.ExecutorState_ExecutorReleased)
		return gone
	case codes.InvalidArgument, codes.FailedPrecondition:
		e.log.Warn("session manager refused a step", "op", op, "err", err)
		v = conflict
	default:
		e.log.Warn("session manager call failed; retrying", "op", op, "err", err)
	}
	d := min(retryMin<<min(e.failures, 16), retryMax)
	e.failures++
	if e.retry == nil {
		e.retry = time.NewTimer(d)
	} else {
		e.retry.Reset(d)
	}
	select {
	case <-e.ctx.Done():
		e.setState(flamev1.ExecutorState_ExecutorReleased)
		return gone
	case <-e.retry.C:
	}
	return v
}

// register: Void → Idle.
func (e *executor) register() {
	err := e.m.backend.RegisterExecutor(e.ctx, e.id, &flamev1.ExecutorSpec{
		Node:   e.m.node,
		Resreq: proto.CloneOf(e.resreq),
		Shim:   flamev1.Shim_Host,
	})
	if err != nil && e.judge("RegisterExecutor", err) != conflict {
		return
	}
	e.failures = 0
	e.setState(flamev1.ExecutorState_ExecutorIdle)
}

// release: Releasing → Released.
func (e *executor) release() {
	err := e.m.backend.UnregisterExecutor(e.ctx, e.id)
	if err != nil {
		if e.judge("UnregisterExecutor", err) == conflict {
			e.setState(flamev1.ExecutorState_ExecutorIdle)
		}
		return
	}
	e.failures = 0
	e.log.Info("executor released")
	e.setState(flamev1.ExecutorState_ExecutorReleased)
}

// bind: Idle → wait for a session → set up the instance → Bound, or
// Unbinding after a failure, or Releasing when there is no session.
func (e *executor) bind() {
	app, ssn, err := e.m.backend.BindExecutor(e.ctx, e.id)
	if err != nil {
		if e.judge("BindExecutor", err) == conflict {
			e.setState(flamev1.ExecutorState_ExecutorUnbinding)
		}
		return
	}
	e.failures = 0
	if app == nil || ssn == nil {
		e.setState(flamev1.ExecutorState_ExecutorReleasing)
		return
	}
	e.mu.Lock()
	e.state = flamev1.ExecutorState_ExecutorBinding
	e.sessionID = ssn.GetMetadata().GetId()
	e.mu.Unlock()
	log := e.log.With("session", ssn.GetMetadata().GetId(), "application", appName(app))
	res := e.setUp(app, ssn)
	if res.GetReturnCode() != BindOK {
		log.Warn("binding failed", "code", res.GetReturnCode(), "detail", res.GetMessage())
	}
	if e.ctx.Err() != nil {
		return
	}
	for {
		err := e.m.backend.BindExecutorCompleted(e.ctx, e.id, res)
		if err == nil {
			break
		}
		switch e.judge("BindExecutorCompleted", err) {
		case again:
			continue
		case conflict:
			e.setState(flamev1.ExecutorState_ExecutorUnbinding)
		}
		return
	}
	e.failures = 0
	if res.GetReturnCode() != BindOK {
		e.setState(flamev1.ExecutorState_ExecutorUnbinding)
		return
	}
	log.Info("executor bound", "pid", e.inst.pid)
	e.setState(flamev1.ExecutorState_ExecutorBound)
}

// setUp installs the application, starts its instance and enters the
// session; it returns the result for BindExecutorCompleted. After a failed
// OnSessionEnter the instance is kept so that unbind calls OnSessionLeave.
func (e *executor) setUp(app *flamev1.Application, ssn *flamev1.Session) *flamev1.Result {
	if shim := app.GetSpec().GetShim(); shim != flamev1.Shim_Host {
		return bindResult(BindShimCreateFailed, shimFailedPrefix+"application "+appName(app)+
			" needs the "+shim.String()+" shim; this executor manager runs the Host shim")
	}
	appEnv := e.m.appEnvironment(app)
	vars, err := e.m.install(app, appEnv)
	if err != nil {
		return bindResult(BindInstallFailed, installFailedPrefix+err.Error())
	}
	inst, err := e.startInstance(app, appEnv, vars)
	if err != nil {
		return bindResult(BindShimCreateFailed, shimFailedPrefix+err.Error())
	}
	e.inst = inst
	spec := app.GetSpec()
	if spec == nil {
		spec = &flamev1.ApplicationSpec{}
	}
	sc := &flamev1.SessionContext{
		SessionId: ssn.GetMetadata().GetId(),
		Application: &flamev1.ApplicationContext{
			Name:             appName(app),
			Shim:             spec.GetShim(),
			Image:            spec.Image,
			Command:          spec.Command,
			WorkingDirectory: spec.WorkingDirectory,
			Url:              spec.Url,
			Installer:        spec.Installer,
		},
		CommonData: ssn.GetSpec().GetCommonData(),
	}
	r, err := inst.client.OnSessionEnter(inst.ctx, sc)
	switch {
	case err != nil:
		if e.ctx.Err() != nil {
			return bindResult(BindSessionEnterFailed, enterFailedPrefix+"executor manager stopping")
		}
		if inst.lost(err) {
			stoppedByUs := !inst.dead()
			inst.stop(e.m.stopGrace)
			return bindResult(BindSessionEnterFailed, enterFailedPrefix+inst.exitError("entering session "+sc.SessionId, stoppedByUs, err).Error())
		}
		return bindResult(BindSessionEnterFailed, enterFailedPrefix+rpcMessage(err))
	case r.GetReturnCode() != 0:
		msg := r.GetMessage()
		if msg == "" {
			msg = "OnSessionEnter returned code " + itoa(int64(r.GetReturnCode()))
		}
		return bindResult(BindSessionEnterFailed, enterFailedPrefix+msg)
	}
	return &flamev1.Result{ReturnCode: BindOK}
}

func bindResult(code int32, msg string) *flamev1.Result {
	return &flamev1.Result{ReturnCode: code, Message: proto.String(validUTF8(msg))}
}

// serve runs tasks while Bound: LaunchTask → OnTaskInvoke → CompleteTask,
// until LaunchTask has no task (→ Unbinding) or the instance is lost (the
// running task fails, → Unbinding with the cause).
func (e *executor) serve() {
	in := e.inst
	if in == nil { // cannot happen: Bound is entered only with an instance
		e.setState(flamev1.ExecutorState_ExecutorUnbinding)
		return
	}
	for {
		// in.ctx ends when the process exits, so a dead instance is noticed
		// while the session manager waits for a task.
		task, err := e.m.backend.LaunchTask(in.ctx, e.id)
		if err != nil {
			if e.ctx.Err() != nil {
				return
			}
			if in.dead() {
				in.stop(e.m.stopGrace)
				e.cause = in.exitError("waiting for a task", false, nil)
				e.log.Warn("instance exited while idle", "err", e.cause)
				e.setState(flamev1.ExecutorState_ExecutorUnbinding)
				return
			}
			switch e.judge("LaunchTask", err) {
			case again:
				continue
			case conflict:
				e.setState(flamev1.ExecutorState_ExecutorUnbinding)
			}
			return
		}
		e.failures = 0
		if task == nil {
			e.setState(flamev1.ExecutorState_ExecutorUnbinding)
			return
		}
		res, lostErr := e.invoke(in, task)
		if res == nil {
			if lostErr != nil { // not delivered: requeued by the unbind
				e.cause = lostErr
				e.log.Warn("instance gone before it received a task", "err", lostErr)
				e.setState(flamev1.ExecutorState_ExecutorUnbinding)
			}
			return // else the manager is stopping
		}
		if !e.complete(res) {
			return
		}
		if lostErr != nil {
			e.cause = lostErr
			e.log.Warn("instance lost while running a task", "err", lostErr)
			e.setState(flamev1.ExecutorState_ExecutorUnbinding)
			return
		}
	}
}

// invoke runs task on the instance. It returns the result to report, and
// the loss when the instance died or its connection broke (the process is
// stopped by then). A nil result means the manager is stopping, or, with a
// loss, that the task never reached the instance.
func (e *executor) invoke(in *instance, task *flamev1.Task) (*flamev1.TaskResult, *InstanceExitError) {
	e.tc.TaskId = task.GetMetadata().GetId()
	e.tc.SessionId = task.GetSpec().GetSessionId()
	e.tc.Input = task.GetSpec().Input
	res, err := in.client.OnTaskInvoke(in.ctx, &e.tc)
	e.tc.Input = nil // do not keep the input alive
	if err == nil {
		if res == nil {
			res = &flamev1.TaskResult{}
		}
		return res, nil
	}
	if e.ctx.Err() != nil {
		return nil, nil
	}
	if in.lost(err) {
		stoppedByUs := !in.dead()
		in.stop(e.m.stopGrace)
		if notDelivered(err) {
			// The instance was already going (told to stop by someone else,
			// its socket gone) and never saw the task: the task is not its
			// failure. Unbinding with the cause puts it back in the queue
			// for the next instance.
			return nil, in.exitError("before it received task "+e.tc.TaskId, stoppedByUs, err)
		}
		lostErr := in.exitError("running task "+e.tc.TaskId, stoppedByUs, err)
		return &flamev1.TaskResult{ReturnCode: -1, Message: proto.String(validUTF8(lostErr.Error()))}, lostErr
	}
	return &flamev1.TaskResult{ReturnCode: -1, Message: proto.String(validUTF8("OnTaskInvoke failed: " + rpcMessage(err)))}, nil
}

// complete reports a task result, retrying transient failures. It returns
// false when the executor left Bound (conflict → Unbinding, or gone).
func (e *executor) complete(res *flamev1.TaskResult) bool {
	for {
		err := e.m.backend.CompleteTask(e.ctx, e.id, res)
		if err == nil {
			e.failures = 0
			return true
		}
		switch e.judge("CompleteTask", err) {
		case again:
			continue
		case conflict:
			e.setState(flamev1.ExecutorState_ExecutorUnbinding)
		}
		return false
	}
}

// unbind: UnbindExecutor → OnSessionLeave → stop the instance →
// UnbindExecutorCompleted → Idle. A step that failed transiently is
// repeated alone in the next iteration.
func (e *executor) unbind() {
	if !e.unbindSent {
		if err := e.m.backend.UnbindExecutor(e.ctx, e.id, e.cause); err != nil && e.judge("UnbindExecutor", err) != conflict {
			return
		}
		e.failures = 0
		e.unbindSent = true
	}
	if in := e.inst; in != nil {
		if !in.dead() && in.client != nil {
			// Errors are logged, not retried: the instance is stopped next
			// either way (upstream would retry a broken instance forever).
			r, err := in.client.OnSessionLeave(in.ctx, &flamev1.EmptyRequest{})
			if e.ctx.Err() != nil {
				return
			}
			switch {
			case err != nil:
				e.log.Warn("OnSessionLeave failed", "err", rpcMessage(err))
			case r.GetReturnCode() != 0:
				e.log.Warn("OnSessionLeave returned a failure", "code", r.GetReturnCode(), "message", r.GetMessage())
			}
		}
		in.stop(e.m.stopGrace)
		in.cleanup()
		e.inst = nil
	}
	if err := e.m.backend.UnbindExecutorCompleted(e.ctx, e.id); err != nil && e.judge("UnbindExecutorCompleted", err) != conflict {
		return
	}
	e.failures = 0
	e.unbindSent = false
	e.cause = nil
	e.log.Info("executor unbound")
	e.setState(flamev1.ExecutorState_ExecutorIdle)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// validUTF8 makes s safe for a proto string field, which must be UTF-8.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// notDelivered reports whether a failed call never reached the instance:
// the connection could not be made (the socket is gone or refuses), as
// opposed to a connection that broke while the call was in progress.
// grpc-go reports both as UNAVAILABLE and tells them apart only in the text.
func notDelivered(err error) bool {
	if instancewire.NotSent(err) {
		return true
	}
	if status.Code(err) != codes.Unavailable {
		return false
	}
	msg := status.Convert(err).Message()
	return strings.Contains(msg, "while dialing") || strings.Contains(msg, "connection refused")
}
