package client_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flmctl/flmctl/pkg/client"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// checkEnum asserts that every wire value's String equals the wire name (less
// strip) and parses back from any case.
func checkEnum[T interface {
	~int32
	fmt.Stringer
}](t *testing.T, wire map[int32]string, strip string, parse func(string) (T, error)) {
	t.Helper()
	for v, name := range wire {
		want := strings.TrimPrefix(name, strip)
		got := T(v)
		if got.String() != want {
			t.Errorf("%T(%d).String() = %q, want %q", got, v, got.String(), want)
		}
		for _, in := range []string{want, strings.ToLower(want), strings.ToUpper(want), " " + want + " "} {
			if p, err := parse(in); err != nil || p != got {
				t.Errorf("parse %q = %v, %v; want %v", in, p, err, got)
			}
		}
	}
	if s := T(99).String(); !strings.HasSuffix(s, "(99)") {
		t.Errorf("%T(99).String() = %q, want the number", T(99), s)
	}
	_, err := parse("bogus")
	if !errors.Is(err, client.ErrInvalidArgument) || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf(`parse "bogus" error = %v; want ErrInvalidArgument naming the value`, err)
	}
}

func TestStates(t *testing.T) {
	checkEnum(t, flamev1.SessionState_name, "", client.ParseSessionState)
	checkEnum(t, flamev1.TaskState_name, "", client.ParseTaskState)
	checkEnum(t, flamev1.ApplicationState_name, "", client.ParseApplicationState)
	checkEnum(t, flamev1.Shim_name, "", client.ParseShim)
	checkEnum(t, flamev1.ExecutorState_name, "Executor", client.ParseExecutorState)
	checkEnum(t, flamev1.NodeState_name, "", client.ParseNodeState)

	if s, err := client.ParseExecutorState("ExecutorBound"); err != nil || s != client.ExecutorBound {
		t.Errorf(`ParseExecutorState("ExecutorBound") = %v, %v`, s, err)
	}
	if _, err := client.ParseExecutorState("executor"); err == nil {
		t.Error(`ParseExecutorState("executor") succeeded`)
	}
	_, err := client.ParseTaskState("done")
	if want := "valid: pending, running, succeed, failed, cancelled"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("ParseTaskState error = %v, want it to list %q", err, want)
	}
}

func TestTaskState_IsTerminal(t *testing.T) {
	for s, want := range map[client.TaskState]bool{
		client.TaskPending: false, client.TaskRunning: false,
		client.TaskSucceed: true, client.TaskFailed: true, client.TaskCancelled: true,
	} {
		if s.IsTerminal() != want {
			t.Errorf("%v.IsTerminal() = %v, want %v", s, !want, want)
		}
	}
}
