package executor

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// detectResources measures this machine as spec §6.1 describes: logical
// CPUs, total memory in bytes from /proc/meminfo (0 where it is missing) and
// the GPU count from CUDA_VISIBLE_DEVICES (NVML is not consulted, so an
// unset variable means 0 GPUs).
func detectResources(lookup func(string) (string, bool)) *flamev1.ResourceRequirement {
	var mem uint64
	if f, err := os.Open("/proc/meminfo"); err == nil {
		mem, _ = parseMemTotal(f)
		_ = f.Close()
	}
	cuda, _ := lookup("CUDA_VISIBLE_DEVICES")
	return &flamev1.ResourceRequirement{
		Cpu:    uint64(runtime.NumCPU()),
		Memory: mem,
		Gpu:    gpuCount(cuda),
	}
}

// parseMemTotal returns the MemTotal line of a /proc/meminfo file in bytes.
func parseMemTotal(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse MemTotal %q: %w", rest, err)
		}
		if len(f) > 1 && strings.EqualFold(f[1], "kB") {
			n *= 1024
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no MemTotal line in meminfo")
}

// gpuCount counts the devices listed in a CUDA_VISIBLE_DEVICES value: empty
// or -1 means none.
func gpuCount(v string) int32 {
	v = strings.TrimSpace(v)
	if v == "" || v == "-1" {
		return 0
	}
	var n int32
	for d := range strings.SplitSeq(v, ",") {
		if strings.TrimSpace(d) != "" {
			n++
		}
	}
	return n
}

// nodeArch names GOARCH the way upstream's nodes report it (uname -m).
func nodeArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i686"
	default:
		return runtime.GOARCH
	}
}
