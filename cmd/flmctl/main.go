// Command flmctl is the command-line client of Flame; see "flmctl --help".
package main

import (
	"os"

	"github.com/flmctl/flmctl/internal/cli/flmctl"
)

func main() { os.Exit(flmctl.Main()) }
