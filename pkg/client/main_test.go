package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind, such as a
// watch worker or a stream that outlived its connection.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
