package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/flmctl/flmctl/internal/cli/clitest"
	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/pkg/local"
)

// The shared command-test helpers, under the names the tests use.
var (
	newTestEnv = clitest.NewEnv
	execute    = clitest.Execute
	checkErr   = clitest.CheckErr
)

// startCluster starts an embedded cluster and returns an Env whose Factory
// reaches its cache through a config file, as flmctl does.
func startCluster(t *testing.T, tty bool) *clitest.Env {
	t.Helper()
	c, err := local.Start(context.Background(), local.Options{
		// No instance ever starts in these tests.
		BuiltinCommand: []string{os.DevNull},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	e := newTestEnv(t, tty)
	cfg := filepath.Join(t.TempDir(), "flame.yaml")
	yaml := fmt.Sprintf("current-context: local\ncontexts:\n  - name: local\n    cluster:\n      endpoint: %s\n    cache:\n      endpoint: %s\n",
		c.Endpoints().Frontend, c.Endpoints().Cache)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e.F.Globals.ConfigFile = cfg
	t.Cleanup(func() { _ = e.F.Close() })
	return e
}

func isNoResults(err error) bool {
	var nr *cmdutil.NoResultsError
	return errors.As(err, &nr)
}
