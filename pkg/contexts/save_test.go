package contexts

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml")

// mustEdit fails the test if an edit returns an error.
func mustEdit(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSave_golden(t *testing.T) {
	tests := []struct {
		name   string
		input  string // testdata file; "" for a file that does not exist yet
		golden string // testdata file; "" means the output equals the input
		edit   func(t *testing.T, f *File)
	}{
		{
			name:  "no change keeps every byte",
			input: "edit.yaml",
			edit:  func(t *testing.T, f *File) {},
		},
		{
			name:  "setting an unchanged context keeps every byte",
			input: "edit.yaml",
			edit: func(t *testing.T, f *File) {
				c, err := f.Context("prod")
				mustEdit(t, err)
				f.SetContext(*c)
			},
		},
		{
			name:   "edit, delete, append and use",
			input:  "edit.yaml",
			golden: "edit.golden.yaml",
			edit: func(t *testing.T, f *File) {
				dev, err := f.Context("dev")
				mustEdit(t, err)
				dev.Cluster.Endpoint = "http://dev2:8080"
				dev.Package.Excludes = []string{"*.log", "*.cache"}
				dev.Runner.Template = "devrun"
				f.SetContext(*dev)
				mustEdit(t, f.DeleteContext("old"))
				f.SetContext(Context{
					Name:    "local",
					Cluster: ClusterConfig{Endpoint: "unix:///run/flame.sock"},
					Cache:   &CacheConfig{Endpoint: "grpc://127.0.0.1:9090"},
				})
				mustEdit(t, f.UseContext("dev"))
			},
		},
		{
			name:   "clearing fields removes them but keeps unknown keys",
			input:  "edit.yaml",
			golden: "clear.golden.yaml",
			edit: func(t *testing.T, f *File) {
				mustEdit(t, f.DeleteContext("prod")) // the current one
				dev, err := f.Context("dev")
				mustEdit(t, err)
				dev.Cluster.Endpoint = ""
				dev.Package = nil            // no unknown keys: the section goes
				dev.Runner = &RunnerConfig{} // the section stays for its unknown key
				f.SetContext(*dev)
			},
		},
		{
			name:   "other indentation becomes two spaces",
			input:  "indent4.yaml",
			golden: "indent4.golden.yaml",
			edit: func(t *testing.T, f *File) {
				f.SetContext(Context{Name: "b", Cluster: ClusterConfig{Endpoint: "http://b:9999", TLS: &TLSConfig{CAFile: "/ca.pem"}}})
				mustEdit(t, f.UseContext("b"))
			},
		},
		{
			name:   "aliases are copied, not edited through",
			input:  "anchors.yaml",
			golden: "anchors.golden.yaml",
			edit: func(t *testing.T, f *File) {
				f.SetContext(Context{Name: "b", Cluster: ClusterConfig{Endpoint: "http://b:1"}})
				a, err := f.Context("a")
				mustEdit(t, err)
				a.Runner = &RunnerConfig{Template: "arun"}
				f.SetContext(*a)
			},
		},
		{
			name:   "new file",
			golden: "new.golden.yaml",
			edit: func(t *testing.T, f *File) {
				f.SetContext(Context{Name: "local", Cluster: ClusterConfig{Endpoint: "http://127.0.0.1:8080"}})
				f.SetContext(Context{
					Name:    "prod",
					Cluster: ClusterConfig{Endpoint: "https://flame:8080", TLS: &TLSConfig{CAFile: "/etc/ca.crt"}},
					Cache:   &CacheConfig{Endpoint: "grpcs://cache:9090", Storage: "/shared"},
					Package: &PackageConfig{Storage: "file:///pkgs", Excludes: []string{"*.log"}},
					Runner:  &RunnerConfig{Template: "flmrun"},
				})
				mustEdit(t, f.UseContext("local"))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "flame.yaml")
			var input []byte
			if tt.input != "" {
				var err error
				if input, err = os.ReadFile(filepath.Join("testdata", tt.input)); err != nil {
					t.Fatal(err)
				}
				writeFiles(t, filepath.Dir(path), map[string]string{"flame.yaml": string(input)})
			}
			f, err := LoadOrEmpty(path)
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(t, f)
			if err := f.Save(); err != nil {
				t.Fatalf("Save() error = %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			want := input
			if tt.golden != "" {
				golden := filepath.Join("testdata", tt.golden)
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if want, err = os.ReadFile(golden); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("saved file mismatch (-want +got):\n%s", diff)
			}

			// What was saved reads back as what the File holds.
			back, err := Load(path)
			if err != nil {
				t.Fatalf("Load(saved) error = %v", err)
			}
			if diff := cmp.Diff(f, back, cmpopts.IgnoreUnexported(File{})); diff != "" {
				t.Errorf("reloaded file mismatch (-saved +reloaded):\n%s", diff)
			}
		})
	}
}

// TestSave_twice checks that a File can be edited and saved again after a
// Save, and that the second save still keeps the blank lines.
func TestSave_twice(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flame.yaml")
	writeFiles(t, dir, map[string]string{"flame.yaml": "current-context: a\n\ncontexts:\n  - name: a\n\n  - name: b\n"})
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	mustEdit(t, f.UseContext("b"))
	mustEdit(t, f.Save())
	mustEdit(t, f.UseContext("a"))
	f.SetContext(Context{Name: "c"})
	mustEdit(t, f.Save())
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "current-context: a\n\ncontexts:\n  - name: a\n\n  - name: b\n  - name: c\n"
	if string(got) != want {
		t.Errorf("saved file = %q, want %q", got, want)
	}
}

func TestSave_fileMode(t *testing.T) {
	t.Run("creates the directory 0700 and the file 0600", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "home", ".flame")
		path := filepath.Join(dir, "flame.yaml")
		f, err := LoadOrEmpty(path)
		if err != nil {
			t.Fatal(err)
		}
		f.SetContext(Context{Name: "a"})
		mustEdit(t, f.Save())
		checkMode(t, dir, 0o700|os.ModeDir)
		checkMode(t, path, 0o600)
		checkOnlyFile(t, dir, "flame.yaml")
	})
	t.Run("an existing 0644 file becomes 0600", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "flame.yaml")
		if err := os.WriteFile(path, []byte("contexts:\n  - name: a\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		mustEdit(t, f.UseContext("a"))
		mustEdit(t, f.Save())
		checkMode(t, path, 0o600)
		checkOnlyFile(t, dir, "flame.yaml")
	})
}

func TestSave_followsSymlink(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"dotfiles/flame.yaml": "contexts:\n  - name: a\n"})
	link := filepath.Join(dir, "flame.yaml")
	if err := os.Symlink(filepath.Join(dir, "dotfiles", "flame.yaml"), link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	f, err := Load(link)
	if err != nil {
		t.Fatal(err)
	}
	mustEdit(t, f.UseContext("a"))
	mustEdit(t, f.Save())
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("%s is no longer a symlink: %v, %v", link, fi, err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "dotfiles", "flame.yaml"))
	if err != nil || !strings.HasPrefix(string(got), "current-context: a\n") {
		t.Errorf("link target = %q, %v; want the saved file", got, err)
	}
}

func TestSave_errors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		file    *File
		wantErr string
	}{
		{name: "no path", file: &File{}, wantErr: "save config: the file has no path"},
		{
			name:    "context without a name",
			file:    &File{Path: filepath.Join(dir, "a.yaml"), Contexts: []Context{{Name: "a"}, {}}},
			wantErr: "context 1 has no name",
		},
		{
			name:    "duplicate names",
			file:    &File{Path: filepath.Join(dir, "b.yaml"), Contexts: []Context{{Name: "a"}, {Name: "a"}}},
			wantErr: `context "a" appears twice`,
		},
		{
			name:    "parent is a file",
			file:    &File{Path: filepath.Join(dir, "file", "flame.yaml")},
			wantErr: "not a directory",
		},
	}
	writeFiles(t, dir, map[string]string{"file": "x"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.file.Save()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Save() error = %v, want it to contain %q", err, tt.wantErr)
			}
			if tt.file.Path != "" {
				if _, err := os.Stat(tt.file.Path); err == nil {
					t.Errorf("Save() failed but wrote %s (stat error %v)", tt.file.Path, err)
				}
			}
		})
	}
	checkOnlyFile(t, dir, "file")
}

func TestKeepBlankLines(t *testing.T) {
	tests := []struct {
		name      string
		src, out  string
		want      string
		wantEqual bool // want == out
	}{
		{
			name: "puts back blank lines before matched lines",
			src:  "a: 1\n\nb: 2\n\n\nc: 3\n",
			out:  "a: 1\nb: 2\nc: 3\n",
			want: "a: 1\n\nb: 2\n\n\nc: 3\n",
		},
		{
			name: "ignores indentation changes",
			src:  "l:\n- x\n\n- y\n",
			out:  "l:\n  - x\n  - y\n",
			want: "l:\n  - x\n\n  - y\n",
		},
		{
			name: "drops the blank line of a removed line",
			src:  "a: 1\n\nb: 2\nc: 3\n",
			out:  "a: 1\nc: 3\n",
			want: "a: 1\nc: 3\n",
		},
		{
			name: "does not double blank lines inside block scalars",
			src:  "s: |\n  x\n\n  y\nt: 1\n",
			out:  "s: |\n  x\n\n  y\nt: 1\n",
			want: "s: |\n  x\n\n  y\nt: 1\n",
		},
		{
			name: "no source",
			src:  "",
			out:  "a: 1\n",
			want: "a: 1\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(keepBlankLines([]byte(tt.src), []byte(tt.out)))
			if got != tt.want {
				t.Errorf("keepBlankLines() = %q, want %q", got, tt.want)
			}
		})
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("mode of %s = %v, want %v", path, fi.Mode(), want)
	}
}

// checkOnlyFile checks that dir holds just name: no temporary files are left.
func checkOnlyFile(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != name {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %v, want only %s", dir, names, name)
	}
}

// TestSave_multilineString checks that putting back blank lines never
// changes a value: yaml.v3 writes this plain two-line string as a literal
// block, where a blank line would become part of the string.
func TestSave_multilineString(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flame.yaml")
	writeFiles(t, dir, map[string]string{"flame.yaml": "contexts:\n  - name: a\n    note: first\n\n      second\n"})
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	mustEdit(t, f.UseContext("a"))
	mustEdit(t, f.Save())
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var saved struct {
		Contexts []struct{ Note string }
	}
	if err := yaml.Unmarshal(got, &saved); err != nil {
		t.Fatal(err)
	}
	if len(saved.Contexts) != 1 || saved.Contexts[0].Note != "first\nsecond" {
		t.Errorf("saved file %q changed the note", got)
	}
}
