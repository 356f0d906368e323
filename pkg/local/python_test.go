package local_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flmctl/flmctl/pkg/local"
)

// TestPythonGRPCPeers runs a client and an instance service written on
// Python's grpcio (the gRPC stack flamepy uses) against the embedded
// cluster: the client registers the Python service, runs tasks through the
// Frontend service and watches them; the executor starts the service
// process and calls it over its Unix socket. The protobuf modules are
// generated from proto/ with protoc. CI installs python3-grpcio,
// python3-protobuf and protobuf-compiler; without them the test says so and
// is skipped.
func TestPythonGRPCPeers(t *testing.T) {
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import grpc, google.protobuf").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import grpc and protobuf (install python3-grpcio and python3-protobuf); not checked: %s", python, out)
	}
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("protoc is not installed (install protobuf-compiler); not checked")
	}
	gen := t.TempDir()
	protoDir, err := filepath.Abs("../../proto")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(protoDir, "flame/v1/*.proto"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .proto files under %s: %v", protoDir, err)
	}
	args := append([]string{"-I", protoDir, "--python_out", gen}, files...)
	if out, err := exec.Command(protoc, args...).CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}

	c, _ := startCluster(t, local.Options{})
	script, err := filepath.Abs("testdata/pyinterop/client.py")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script)
	cmd.Env = append(os.Environ(), "FLAME_ENDPOINT="+c.Endpoints().Frontend, "PYINTEROP_GEN="+gen)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "ok py-ssn-1" {
		t.Fatalf("Python client: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
}
