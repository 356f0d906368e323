package builtin

import (
	"context"
	"errors"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flmctl/flmctl/pkg/service"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds waits that only time out when something is broken.
const waitTimeout = 10 * time.Second

func invoke(t *testing.T, svc service.Service, input []byte) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return svc.OnTaskInvoke(ctx, &service.TaskContext{TaskID: "1", SessionID: "s", Input: input})
}

func TestServices(t *testing.T) {
	svcs := Services()
	var names []string
	for name, svc := range svcs {
		if svc == nil {
			t.Errorf("service %s is nil", name)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"echo", "flmexec", "flmping"}; !slices.Equal(names, want) {
		t.Errorf("Services() names = %v, want %v", names, want)
	}
	// Each call returns fresh instances.
	if Services()[ExecName] == svcs[ExecName] {
		t.Error("Services() returned the same flmexec instance twice")
	}
}

func TestEcho(t *testing.T) {
	for _, input := range [][]byte{[]byte("hello"), {}, nil} {
		out, err := invoke(t, Echo(), input)
		if err != nil || string(out) != string(input) || (out == nil) != (input == nil) {
			t.Errorf("echo(%v) = %v, %v; want the input back", input, out, err)
		}
	}
}

var pingMessage = regexp.MustCompile(`^\{"message":"Completed on <([^>]*)> in <(\d+)> milliseconds with <(\d+)> memory"\}$`)

// parsePing checks flmping's output format exactly and returns its fields.
func parsePing(t *testing.T, out []byte) (host string, ms, memory int) {
	t.Helper()
	m := pingMessage.FindSubmatch(out)
	if m == nil {
		t.Fatalf("flmping output %s does not match %s", out, pingMessage)
	}
	ms, _ = strconv.Atoi(string(m[2]))
	memory, _ = strconv.Atoi(string(m[3]))
	return string(m[1]), ms, memory
}

func TestPing_DefaultsForNoInput(t *testing.T) {
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, input := range []string{"", "null", "{}", `{"duration":null,"memory":null}`} {
		out, err := invoke(t, Ping(), []byte(input))
		if err != nil {
			t.Fatalf("ping(%q): %v", input, err)
		}
		host, _, memory := parsePing(t, out)
		if host != hostname || memory != 0 {
			t.Errorf("ping(%q) = host %q memory %d; want %q and 0", input, host, memory, hostname)
		}
	}
}

func TestPing_SleepsAndAllocates(t *testing.T) {
	out, err := invoke(t, Ping(), []byte(`{"duration": 20, "memory": 1048576}`))
	if err != nil {
		t.Fatal(err)
	}
	_, ms, memory := parsePing(t, out)
	if ms < 20 {
		t.Errorf("reported %d ms, want at least the 20 ms asked for", ms)
	}
	if memory != 1048576 {
		t.Errorf("reported %d bytes, want 1048576", memory)
	}
}

func TestPing_BadInput(t *testing.T) {
	for _, tc := range []struct{ input, want string }{
		{`{"duration": -1}`, "decode task input as builtin.pingRequest"},
		{`{"memory": "lots"}`, "decode task input as builtin.pingRequest"},
		{`[`, "decode task input as builtin.pingRequest"},
		{`{"memory": 4611686018427387904}`, "ask for less"},
	} {
		_, err := invoke(t, Ping(), []byte(tc.input))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ping(%s) error = %v, want it to contain %q", tc.input, err, tc.want)
		}
	}
}

func TestPing_CancelInterruptsSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Ping().OnTaskInvoke(ctx, &service.TaskContext{Input: []byte(`{"duration": 3600000}`)})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "3600000 ms sleep") {
			t.Errorf("cancelled ping = %v, want an interrupted-sleep error wrapping context.Canceled", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("ping kept sleeping after its context was cancelled")
	}
}

func TestAllocate(t *testing.T) {
	mem, err := allocate(3*uint64(os.Getpagesize()) + 1)
	if err != nil || len(mem) != 3*os.Getpagesize()+1 {
		t.Fatalf("allocate = %d bytes, %v", len(mem), err)
	}
	if mem[0] != 1 || mem[os.Getpagesize()] != 1 {
		t.Error("allocate did not touch its pages")
	}
	if mem, err := allocate(0); mem != nil || err != nil {
		t.Errorf("allocate(0) = %v, %v; want nil, nil", mem, err)
	}
}
