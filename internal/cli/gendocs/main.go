// Command gendocs writes one markdown page per flmctl command into a
// directory, replacing the pages it wrote before:
//
//	go run ./internal/cli/gendocs docs/cli
//
// The pages come from the same cobra commands as "flmctl --help", so they
// cannot drift from it; "make docs" regenerates them and "make verify" fails
// when the checked-in pages are stale.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/root"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendocs <output-directory>")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	ios, _, _, _ := iostreams.Test()
	// A fixed build identity and no environment keep the pages independent of
	// the machine that generates them.
	f := cmdutil.New(ios, nil, cmdutil.BuildInfo{Version: "dev"})
	return generate(root.NewCmdRoot(f), dir)
}

// generate removes the flmctl*.md pages in dir and writes one per available
// command of the tree under cmd.
func generate(cmd *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "flmctl*.md"))
	if err != nil {
		return err
	}
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return writePages(cmd, dir)
}

func writePages(cmd *cobra.Command, dir string) error {
	for _, c := range cmd.Commands() {
		if !c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand() {
			continue
		}
		if err := writePages(c, dir); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, pageName(cmd)), page(cmd), 0o644)
}

func pageName(cmd *cobra.Command) string {
	return strings.ReplaceAll(cmd.CommandPath(), " ", "_") + ".md"
}

// page renders the markdown of one command.
func page(cmd *cobra.Command) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", cmd.CommandPath(), cmd.Short)
	if cmd.Long != "" {
		fmt.Fprintf(&b, "## Synopsis\n\n```\n%s\n```\n\n", strings.TrimRight(cmd.Long, "\n"))
	}
	fmt.Fprintf(&b, "## Usage\n\n```\n%s\n```\n\n", cmd.UseLine())
	if len(cmd.Aliases) > 0 {
		fmt.Fprintf(&b, "Aliases: %s\n\n", strings.Join(cmd.Aliases, ", "))
	}
	if cmd.Example != "" {
		fmt.Fprintf(&b, "## Examples\n\n```\n%s\n```\n\n", strings.TrimRight(cmd.Example, "\n"))
	}
	if fs := cmd.NonInheritedFlags(); fs.HasAvailableFlags() {
		fmt.Fprintf(&b, "## Flags\n\n```\n%s```\n\n", fs.FlagUsages())
	}
	if fs := cmd.InheritedFlags(); fs.HasAvailableFlags() {
		fmt.Fprintf(&b, "## Global flags\n\n```\n%s```\n\n", fs.FlagUsages())
	}
	var links []string
	if p := cmd.Parent(); p != nil {
		links = append(links, fmt.Sprintf("* [%s](%s): %s", p.CommandPath(), pageName(p), p.Short))
	}
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() && !c.IsAdditionalHelpTopicCommand() {
			links = append(links, fmt.Sprintf("* [%s](%s): %s", c.CommandPath(), pageName(c), c.Short))
		}
	}
	if len(links) > 0 {
		fmt.Fprintf(&b, "## See also\n\n%s\n", strings.Join(links, "\n"))
	}
	return append(bytes.TrimRight(b.Bytes(), "\n"), '\n')
}
