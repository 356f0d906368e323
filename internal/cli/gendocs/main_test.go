package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "flmctl_removed.md")
	keep := filepath.Join(dir, "README.md")
	for _, p := range []string{stale, keep} {
		if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("the page of a removed command was kept")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Error("a file gendocs did not write was removed")
	}
	for _, name := range []string{"flmctl.md", "flmctl_context.md", "flmctl_context_use.md", "flmctl_version.md", "flmctl_completion.md"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("missing page: %v", err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "flmctl_context_use.md"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{
		"# flmctl context use\n\nMake a context the current one\n",
		"## Usage\n\n```\nflmctl context use <name>",
		"## Examples\n\n```\n  flmctl context use local\n```",
		"## Global flags\n",
		"* [flmctl context](flmctl_context.md): Manage the contexts of flame.yaml",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	// Generating twice gives the same bytes.
	first, _ := os.ReadFile(filepath.Join(dir, "flmctl.md"))
	if err := run(dir); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(filepath.Join(dir, "flmctl.md"))
	if string(first) != string(second) {
		t.Error("output is not stable")
	}
	for _, p := range []string{"flmctl_help.md", "flmctl___complete.md"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s written for a hidden or help command", p)
		}
	}
}
