package service_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flmctl/flmctl/pkg/service"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// helperStarted is the line the helper process prints on stdout once its
// task is running and it is ready for the signal.
const helperStarted = "task started"

// runHelperProcess is the subprocess side of
// TestRun_SIGTERMFinishesTaskAndExitsZero: it serves through Run (the real
// signal path) a task that finishes only after the process got SIGTERM.
func runHelperProcess() int {
	svc := service.TaskFunc(func(context.Context, *service.TaskContext) ([]byte, error) {
		// Run has its own SIGTERM handler; a second registration lets the
		// task see the signal too, so it finishes strictly after it.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		defer signal.Stop(sigs)
		fmt.Println(helperStarted)
		select {
		case <-sigs:
			return []byte("finished after SIGTERM"), nil
		case <-time.After(waitTimeout):
			return nil, errors.New("no SIGTERM arrived")
		}
	})
	if err := service.Run(svc); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

func TestRun_SIGTERMFinishesTaskAndExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	socket := filepath.Join(shortTempDir(t), "h.sock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", service.EndpointEnv+"="+socket,
		// A race-enabled binary otherwise sleeps a second before exiting.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Read stdout to the end before Wait, as os/exec requires.
	lines := make(chan string, 16)
	var waitErr error
	waited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		waitErr = cmd.Wait()
		close(waited)
	}()
	defer func() {
		select {
		case <-waited:
		default: // the test failed early: do not leave the helper running
			_ = cmd.Process.Kill()
			<-waited
		}
	}()

	conn := dial(t, socket)
	defer conn.Close()
	client := flamev1.NewInstanceClient(conn)
	type reply struct {
		res *flamev1.TaskResult
		err error
	}
	replies := make(chan reply, 1)
	go func() {
		res, err := client.OnTaskInvoke(callCtx(t), &flamev1.TaskContext{TaskId: "1", SessionId: "s"}, waitForReady)
		replies <- reply{res, err}
	}()

	deadline := time.After(waitTimeout)
	for started := false; !started; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("helper closed stdout before the task started; stderr:\n%s", stderr.String())
			}
			started = line == helperStarted
		case <-deadline:
			t.Fatal("the helper's task did not start")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	select {
	case r := <-replies:
		if r.err != nil || r.res.GetReturnCode() != 0 || string(r.res.GetOutput()) != "finished after SIGTERM" {
			t.Errorf("task in flight at SIGTERM = %v, %v; want it to finish with its output", r.res, r.err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no reply to the task in flight")
	}
	select {
	case <-waited:
		if waitErr != nil {
			t.Fatalf("helper exited with %v, want status 0; stderr:\n%s", waitErr, stderr.String())
		}
	case <-time.After(waitTimeout):
		t.Fatal("helper did not exit after SIGTERM")
	}
	if _, err := os.Lstat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind after exit (Lstat: %v)", err)
	}
}
