package client_test

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/flmctl/flmctl/pkg/client"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

func TestCreateAndGetTask(t *testing.T) {
	var created *flamev1.CreateTaskRequest
	var got *flamev1.GetTaskRequest
	full := &flamev1.Task{
		Metadata: &flamev1.Metadata{Id: "7", Name: "7"},
		Spec:     &flamev1.TaskSpec{SessionId: "s1", Input: []byte("in"), Output: []byte("out")},
		Status: &flamev1.TaskStatus{
			State: flamev1.TaskState_Succeed, CreationTime: 1000, CompletionTime: new(int64(3000)),
			Events: []*flamev1.Event{
				{Code: 0, Message: new("Task was created with state <Pending>"), CreationTime: 1000},
				{Code: 2, CreationTime: 3000},
			},
		},
	}
	ssn := openSession(t, &stubFrontend{
		CreateTaskF: func(_ context.Context, r *flamev1.CreateTaskRequest) (*flamev1.Task, error) {
			created = r
			return taskProto(r.GetTask().GetSessionId(), "7", flamev1.TaskState_Pending, nil), nil
		},
		GetTaskF: func(_ context.Context, r *flamev1.GetTaskRequest) (*flamev1.Task, error) {
			got = r
			if r.TaskId != "7" {
				return nil, status.Error(codes.NotFound, r.TaskId)
			}
			return full, nil
		},
	})
	task, err := ssn.CreateTask(t.Context(), []byte("in"))
	if err != nil || task.ID != "7" || task.State != client.TaskPending || task.SessionID != "s1" {
		t.Fatalf("CreateTask = %+v, %v", task, err)
	}
	if d := cmp.Diff(&flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "s1", Input: []byte("in")}}, created, protocmp.Transform()); d != "" {
		t.Errorf("CreateTask request (-want +got):\n%s", d)
	}
	if _, err := ssn.CreateTask(t.Context(), nil); err != nil || created.GetTask().Input != nil {
		t.Errorf("CreateTask(nil) = %v, sent input %q", err, created.GetTask().Input)
	}

	task, err = ssn.GetTask(t.Context(), "7")
	if err != nil {
		t.Fatal(err)
	}
	if got.SessionId != "s1" || got.TaskId != "7" {
		t.Errorf("GetTask request = %v", got)
	}
	want := &client.Task{
		ID: "7", SessionID: "s1", State: client.TaskSucceed, Input: []byte("in"), Output: []byte("out"),
		CreationTime: time.UnixMilli(1000), CompletionTime: time.UnixMilli(3000),
		Events: []client.Event{
			{Code: 0, Message: "Task was created with state <Pending>", CreationTime: time.UnixMilli(1000)},
			{Code: 2, CreationTime: time.UnixMilli(3000)},
		},
	}
	if d := cmp.Diff(want, task, cmp.AllowUnexported(client.Task{}), cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".proto" }, cmp.Ignore())); d != "" {
		t.Errorf("GetTask (-want +got):\n%s", d)
	}
	if !proto.Equal(task.Proto(), full) {
		t.Errorf("Proto() = %v, want the message sent", task.Proto())
	}
	_, err = ssn.GetTask(t.Context(), "8")
	if !errors.Is(err, client.ErrNotFound) || err.Error() != `get task 8 of session "s1": 8` {
		t.Errorf("GetTask(8) = %v", err)
	}
}

func TestListTasks(t *testing.T) {
	ended := make(chan error, 1)
	conn := connect(t, &stubFrontend{
		ListTaskF: func(r *flamev1.ListTaskRequest, st grpc.ServerStreamingServer[flamev1.Task]) error {
			switch r.SessionId {
			case "s1":
				for i := 1; i <= 5; i++ {
					if err := st.Send(taskProto(r.SessionId, strconv.Itoa(i), flamev1.TaskState_Succeed, nil)); err != nil {
						return err
					}
				}
				return nil
			case "endless":
				var err error
				for i := 1; err == nil; i++ {
					err = st.Send(taskProto(r.SessionId, strconv.Itoa(i), flamev1.TaskState_Pending, nil))
				}
				ended <- err
				return err
			}
			return status.Errorf(codes.NotFound, "session %s", r.SessionId)
		},
	})
	var ids []string
	for task, err := range getSession(t, conn, "s1").ListTasks(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, task.ID)
	}
	if strings.Join(ids, ",") != "1,2,3,4,5" {
		t.Errorf("ListTasks ids = %v", ids)
	}

	n := 0
	for _, err := range getSession(t, conn, "endless").ListTasks(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	select {
	case <-ended: // the server saw the stream end
	case <-time.After(10 * time.Second):
		t.Fatal("the ListTask stream was not ended after the loop broke")
	}

	var errs []error
	for task, err := range getSession(t, conn, "gone").ListTasks(t.Context()) {
		if task != nil {
			t.Errorf("got task %v from an unknown session", task)
		}
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], client.ErrNotFound) {
		t.Errorf("ListTasks of an unknown session yielded %v, want one ErrNotFound", errs)
	}
}

// sendAll returns a WatchTask handler that sends tasks and ends the stream.
func sendAll(tasks ...*flamev1.Task) func(*flamev1.WatchTaskRequest, grpc.ServerStreamingServer[flamev1.Task]) error {
	return func(_ *flamev1.WatchTaskRequest, st grpc.ServerStreamingServer[flamev1.Task]) error {
		for _, task := range tasks {
			if err := st.Send(task); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestWatchTask(t *testing.T) {
	var req *flamev1.WatchTaskRequest
	ssn := openSession(t, &stubFrontend{
		WatchTaskF: func(r *flamev1.WatchTaskRequest, st grpc.ServerStreamingServer[flamev1.Task]) error {
			req = r
			return sendAll(
				taskProto("s1", "3", flamev1.TaskState_Running, nil),
				taskProto("s1", "3", flamev1.TaskState_Succeed, []byte("out")),
				taskProto("s1", "3", flamev1.TaskState_Succeed, []byte("never read")),
			)(r, st)
		},
	})
	w, err := ssn.WatchTask(t.Context(), "3")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var states []client.TaskState
	for {
		task, err := w.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, task.State)
		if task.State == client.TaskSucceed && string(task.Output) != "out" {
			t.Errorf("output = %q", task.Output)
		}
	}
	if want := []client.TaskState{client.TaskRunning, client.TaskSucceed}; !cmp.Equal(states, want) {
		t.Errorf("states = %v, want %v", states, want)
	}
	if req.SessionId != "s1" || req.TaskId != "3" {
		t.Errorf("WatchTask request = %v", req)
	}
	if task, err := w.Wait(); err != nil || task.State != client.TaskSucceed {
		t.Errorf("Wait after the end = %v, %v; want the terminal task", task, err)
	}
}

func TestWatchTask_StreamEnds(t *testing.T) {
	tests := []struct {
		name    string
		watch   []*flamev1.Task
		getTask func(context.Context, *flamev1.GetTaskRequest) (*flamev1.Task, error)
		want    error  // matched with errors.Is; nil: Wait succeeds
		msg     string // in the error
	}{
		{
			name:  "early end",
			watch: []*flamev1.Task{taskProto("s1", "1", flamev1.TaskState_Running, nil)},
			want:  client.ErrInternal,
			msg:   `watch task 1 of session "s1": the stream ended early, before a terminal state (last state: Running)`,
		},
		{
			name: "early end, task still running",
			getTask: func(context.Context, *flamev1.GetTaskRequest) (*flamev1.Task, error) {
				return taskProto("s1", "1", flamev1.TaskState_Running, nil), nil
			},
			want: client.ErrInternal,
			msg:  "(last state: none)",
		},
		{
			name: "no messages, unknown task (upstream)",
			getTask: func(context.Context, *flamev1.GetTaskRequest) (*flamev1.Task, error) {
				return nil, status.Error(codes.NotFound, "1")
			},
			want: client.ErrNotFound,
			msg:  `get task 1 of session "s1": 1`,
		},
		{
			name:  "early end, task finished meanwhile",
			watch: []*flamev1.Task{taskProto("s1", "1", flamev1.TaskState_Running, nil)},
			getTask: func(context.Context, *flamev1.GetTaskRequest) (*flamev1.Task, error) {
				return taskProto("s1", "1", flamev1.TaskState_Succeed, []byte("ok")), nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ssn := openSession(t, &stubFrontend{WatchTaskF: sendAll(tt.watch...), GetTaskF: tt.getTask})
			w, err := ssn.WatchTask(t.Context(), "1")
			if err != nil {
				t.Fatal(err)
			}
			task, err := w.Wait()
			if tt.want == nil {
				if err != nil || task.State != client.TaskSucceed || string(task.Output) != "ok" {
					t.Errorf("Wait = %+v, %v", task, err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Wait error = %v, want %v containing %q", err, tt.want, tt.msg)
			}
			if _, err := w.Next(); !errors.Is(err, io.EOF) {
				t.Errorf("Next after the error = %v, want io.EOF", err)
			}
		})
	}
}

func TestWatchTask_Error(t *testing.T) {
	ssn := openSession(t, &stubFrontend{
		WatchTaskF: func(r *flamev1.WatchTaskRequest, _ grpc.ServerStreamingServer[flamev1.Task]) error {
			return status.Errorf(codes.NotFound, "task %s not found", r.TaskId)
		},
	})
	w, err := ssn.WatchTask(t.Context(), "9")
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Next()
	if !errors.Is(err, client.ErrNotFound) || err.Error() != `watch task 9 of session "s1": task 9 not found` {
		t.Errorf("Next = %v", err)
	}
}

// taskStub returns a stub whose session s1 runs every task to the given end.
// GetTask answers with getTask, or NotFound. Like upstream, it ignores the
// wait metadata of CreateTask; waitStub honours it, like our server.
func taskStub(end *flamev1.Task, getTask *flamev1.Task) *stubFrontend {
	return &stubFrontend{
		CreateTaskF: func(_ context.Context, r *flamev1.CreateTaskRequest) (*flamev1.Task, error) {
			return taskProto(r.GetTask().GetSessionId(), "1", flamev1.TaskState_Pending, nil), nil
		},
		WatchTaskF: sendAll(taskProto("s1", "1", flamev1.TaskState_Running, nil), end),
		GetTaskF: func(_ context.Context, r *flamev1.GetTaskRequest) (*flamev1.Task, error) {
			if getTask == nil {
				return nil, status.Error(codes.NotFound, r.TaskId)
			}
			return getTask, nil
		},
	}
}

// waitStub is taskStub answering a CreateTask that asks to wait with the
// terminal task, and failing every WatchTask: none is needed then.
func waitStub(t *testing.T, end *flamev1.Task, getTask *flamev1.Task) *stubFrontend {
	s := taskStub(end, getTask)
	s.CreateTaskF = func(ctx context.Context, r *flamev1.CreateTaskRequest) (*flamev1.Task, error) {
		if v := metadata.ValueFromIncomingContext(ctx, flamev1.WaitMetadataKey); len(v) != 1 || v[0] != flamev1.WaitTerminal {
			t.Errorf("CreateTask metadata %s = %q, want [%q]", flamev1.WaitMetadataKey, v, flamev1.WaitTerminal)
		}
		return end, nil
	}
	s.WatchTaskF = func(*flamev1.WatchTaskRequest, grpc.ServerStreamingServer[flamev1.Task]) error {
		t.Error("WatchTask called although CreateTask answered with a terminal task")
		return status.Error(codes.Internal, "unexpected watch")
	}
	return s
}

func TestInvoke(t *testing.T) {
	failedEvent := &flamev1.Event{Code: 3, Message: new("Test error in task 1"), CreationTime: 2000}
	created := &flamev1.Event{Code: 0, Message: new("Task was created with state <Pending>"), CreationTime: 1000}
	tests := []struct {
		name    string
		end     *flamev1.Task
		getTask *flamev1.Task
		want    error // nil: succeeds with output "out"
		msg     string
		state   client.TaskState
		events  int
	}{
		{name: "succeed", end: taskProto("s1", "1", flamev1.TaskState_Succeed, []byte("out"))},
		{
			name: "failed with events in the watch (our server)",
			end:  taskProto("s1", "1", flamev1.TaskState_Failed, nil, created, failedEvent),
			want: client.ErrInternal, msg: `task 1 of session "s1" failed: Test error in task 1`, state: client.TaskFailed, events: 2,
		},
		{
			name:    "failed, events from GetTask (upstream)",
			end:     taskProto("s1", "1", flamev1.TaskState_Failed, nil),
			getTask: taskProto("s1", "1", flamev1.TaskState_Failed, nil, failedEvent),
			want:    client.ErrInternal, msg: `task 1 of session "s1" failed: Test error in task 1`, state: client.TaskFailed, events: 1,
		},
		{
			name: "failed without message",
			end:  taskProto("s1", "1", flamev1.TaskState_Failed, nil),
			want: client.ErrInternal, msg: "task 1 failed without error message", state: client.TaskFailed,
		},
		{
			name: "cancelled",
			end:  taskProto("s1", "1", flamev1.TaskState_Cancelled, nil),
			want: client.ErrInvalidState, msg: `task 1 of session "s1" was cancelled`, state: client.TaskCancelled,
		},
	}
	for _, tt := range tests {
		for _, server := range []string{"upstream", "flmctl"} {
			t.Run(tt.name+"/"+server, func(t *testing.T) {
				stub := taskStub(tt.end, tt.getTask)
				if server == "flmctl" {
					stub = waitStub(t, tt.end, tt.getTask)
				}
				ssn := openSession(t, stub)
				out, err := ssn.Invoke(t.Context(), []byte("in"))
				if tt.want == nil {
					if err != nil || string(out) != "out" {
						t.Errorf("Invoke = %q, %v", out, err)
					}
					return
				}
				var tf *client.TaskFailedError
				if !errors.As(err, &tf) {
					t.Fatalf("Invoke error %v (%T) is not a *TaskFailedError", err, err)
				}
				if !errors.Is(err, tt.want) || err.Error() != tt.msg {
					t.Errorf("Invoke error = %q, want %q matching %v", err, tt.msg, tt.want)
				}
				var fe *client.FlameError
				if !errors.As(err, &fe) || fe.Message != tt.msg {
					t.Errorf("errors.As FlameError = %v", fe)
				}
				if tf.TaskID != "1" || tf.SessionID != "s1" || tf.State != tt.state || len(tf.Events) != tt.events {
					t.Errorf("TaskFailedError = %+v", tf)
				}
			})
		}
	}
}

func TestInvoke_CreateFails(t *testing.T) {
	ssn := openSession(t, &stubFrontend{
		CreateTaskF: func(context.Context, *flamev1.CreateTaskRequest) (*flamev1.Task, error) {
			return nil, status.Error(codes.InvalidArgument, "Cannot create task in closed session")
		},
	})
	_, err := ssn.Invoke(t.Context(), nil)
	if !errors.Is(err, client.ErrInvalidArgument) || err.Error() != `create task in session "s1": Cannot create task in closed session` {
		t.Errorf("Invoke = %v", err)
	}
}

func TestWatchTask_CloseStopsNext(t *testing.T) {
	ssn := openSession(t, &stubFrontend{
		WatchTaskF: func(r *flamev1.WatchTaskRequest, st grpc.ServerStreamingServer[flamev1.Task]) error {
			if err := st.Send(taskProto(r.SessionId, r.TaskId, flamev1.TaskState_Running, nil)); err != nil {
				return err
			}
			<-st.Context().Done() // never finishes
			return st.Context().Err()
		},
	})
	w, err := ssn.WatchTask(t.Context(), "1")
	if err != nil {
		t.Fatal(err)
	}
	if task, err := w.Next(); err != nil || task.State != client.TaskRunning {
		t.Fatalf("Next = %v, %v", task, err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := w.Next()
		errc <- err
	}()
	w.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
			t.Errorf("Next after Close = %v, want context.Canceled or io.EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop a blocked Next")
	}
}

// TestWatchMetadata: the watches of Run and of an Invoke answered Pending
// ask for the terminal state alone; WatchTask, which reports every state,
// does not.
func TestWatchMetadata(t *testing.T) {
	asked := make(chan bool, 3)
	stub := taskStub(taskProto("s1", "1", flamev1.TaskState_Succeed, []byte("out")), nil)
	watch := stub.WatchTaskF
	stub.WatchTaskF = func(r *flamev1.WatchTaskRequest, st grpc.ServerStreamingServer[flamev1.Task]) error {
		v := metadata.ValueFromIncomingContext(st.Context(), flamev1.WaitMetadataKey)
		asked <- len(v) == 1 && v[0] == flamev1.WaitTerminal
		return watch(r, st)
	}
	ssn := openSession(t, stub)
	if out, err := ssn.Run(t.Context(), nil).Wait(t.Context()); err != nil || string(out) != "out" {
		t.Fatalf("Run = %q, %v", out, err)
	}
	if !<-asked {
		t.Error("the watch of Run did not ask for the terminal state alone")
	}
	if out, err := ssn.Invoke(t.Context(), nil); err != nil || string(out) != "out" {
		t.Fatalf("Invoke = %q, %v", out, err)
	}
	if !<-asked {
		t.Error("the watch of Invoke did not ask for the terminal state alone")
	}
	w, err := ssn.WatchTask(t.Context(), "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	if <-asked {
		t.Error("WatchTask asked for the terminal state alone")
	}
}
