package executor

import (
	"runtime"
	"strings"
	"testing"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

func TestParseMemTotal(t *testing.T) {
	const meminfo = "MemFree:         1000 kB\nMemTotal:       16318112 kB\nBuffers: 1 kB\n"
	got, err := parseMemTotal(strings.NewReader(meminfo))
	if err != nil || got != 16318112*1024 {
		t.Errorf("parseMemTotal = %d, %v; want %d", got, err, 16318112*1024)
	}
	for _, bad := range []string{"", "MemFree: 1 kB\n", "MemTotal: lots kB\n", "MemTotal:\n"} {
		if _, err := parseMemTotal(strings.NewReader(bad)); err == nil {
			t.Errorf("parseMemTotal(%q) succeeded", bad)
		}
	}
}

func TestGPUCount(t *testing.T) {
	for in, want := range map[string]int32{"": 0, "-1": 0, " ": 0, "0": 1, "0,1,2": 3, "GPU-abc, GPU-def": 2, "0,,1": 2} {
		if got := gpuCount(in); got != want {
			t.Errorf("gpuCount(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestDetectResources(t *testing.T) {
	env := map[string]string{"CUDA_VISIBLE_DEVICES": "0,1"}
	r := detectResources(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if r.GetCpu() != uint64(runtime.NumCPU()) || r.GetGpu() != 2 {
		t.Errorf("resources = %v", r)
	}
	if runtime.GOOS == "linux" && r.GetMemory() == 0 {
		t.Error("memory not measured from /proc/meminfo")
	}
}

func TestManager_Node(t *testing.T) {
	m, err := New(Options{Backend: newFakeBackend(), NodeName: "n1", SocketDir: shortTempDir(t), Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	n := m.Node()
	st := n.GetStatus()
	if n.GetMetadata().GetName() != "n1" || n.GetMetadata().GetId() != "n1" || n.GetSpec().GetHostname() != "n1" ||
		st.GetState() != flamev1.NodeState_Ready || st.GetCapacity().GetCpu() == 0 || st.GetCapacity().GetGpu() != 0 ||
		st.GetAllocatable().GetCpu() != st.GetCapacity().GetCpu() || st.GetInfo().GetOs() != runtime.GOOS || st.GetInfo().GetArch() == "" {
		t.Errorf("node = %v", n)
	}
	if runtime.GOARCH == "amd64" && st.GetInfo().GetArch() != "x86_64" {
		t.Errorf("arch = %q, want x86_64", st.GetInfo().GetArch())
	}
}
