package main

import (
	"bytes"
	"os"
	"regexp"
	"testing"

	"github.com/flmctl/flmctl/pkg/service"
)

func TestMain(m *testing.M) {
	if os.Getenv(service.EndpointEnv) != "" {
		// The cluster started this test binary as the application.
		if err := service.Run(square()); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, 100); err != nil {
		t.Fatal(err)
	}
	// 1² + … + 100² = 338350
	if !regexp.MustCompile(`(?m)^100 tasks on [1-9][0-9]* instances in .*; sum of squares = 338350$`).Match(out.Bytes()) {
		t.Fatalf("unexpected report:\n%s", out.String())
	}
}
