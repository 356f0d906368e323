package cluster

import "github.com/flmctl/flmctl/internal/cli/clitest"

// The shared command-test helpers, under the names the tests use.
var (
	newTestEnv = clitest.NewEnv
	execute    = clitest.Execute
	checkErr   = clitest.CheckErr
)
