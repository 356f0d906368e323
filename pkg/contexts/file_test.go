package contexts

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    *File // Path is filled in
		wantErr string
	}{
		{
			name: "every field",
			yaml: `current-context: flame
contexts:
  - name: flame
    cluster:
      endpoint: "https://flame-session-manager:8080"
      tls:
        ca_file: "/etc/flame/certs/ca.crt"
    cache:
      endpoint: "grpcs://flame-object-cache:9090"
      tls:
        ca_file: "/etc/flame/certs/cache.crt"
      storage: "/shared"
    package:
      storage: "file:///var/lib/flame/packages"
      excludes: ["*.log", "*.pkl"]
    runner:
      template: "myrun"
`,
			want: &File{CurrentContext: "flame", Contexts: []Context{{
				Name: "flame",
				Cluster: ClusterConfig{
					Endpoint: "https://flame-session-manager:8080",
					TLS:      &TLSConfig{CAFile: "/etc/flame/certs/ca.crt"},
				},
				Cache: &CacheConfig{
					Endpoint: "grpcs://flame-object-cache:9090",
					TLS:      &TLSConfig{CAFile: "/etc/flame/certs/cache.crt"},
					Storage:  "/shared",
				},
				Package: &PackageConfig{Storage: "file:///var/lib/flame/packages", Excludes: []string{"*.log", "*.pkl"}},
				Runner:  &RunnerConfig{Template: "myrun"},
			}}},
		},
		{
			name: "unknown keys are tolerated",
			yaml: "apiVersion: v9\ncurrent-context: a\ncontexts:\n  - name: a\n    labels: {x: 1}\n    cluster:\n      endpoint: http://a\n      proxy: socks5://p\n",
			want: &File{CurrentContext: "a", Contexts: []Context{{Name: "a", Cluster: ClusterConfig{Endpoint: "http://a"}}}},
		},
		{
			name: "null and empty sections",
			yaml: "contexts:\n  - name: a\n    cluster:\n    cache:\n    package: {}\n    runner: ~\n",
			want: &File{Contexts: []Context{{Name: "a", Package: &PackageConfig{}}}},
		},
		{
			name: "scalars of other types are strings",
			yaml: "current-context: 42\ncontexts:\n  - name: 42\n    runner: {template: true}\n",
			want: &File{CurrentContext: "42", Contexts: []Context{{Name: "42", Runner: &RunnerConfig{Template: "true"}}}},
		},
		{
			name: "anchors and merge keys",
			yaml: `current-context: a
x-base: &base
  cluster: {endpoint: "http://base:1"}
  runner: {template: t}
x-other: &other
  runner: {template: other}
  cache: {storage: /other}
contexts:
  - <<: *base
    name: a
  - name: b
    <<: *base
    cluster: {endpoint: "http://b:1"}
  - name: c
    <<: [*base, *other] # the first wins
`,
			want: &File{CurrentContext: "a", Contexts: []Context{
				{Name: "a", Cluster: ClusterConfig{Endpoint: "http://base:1"}, Runner: &RunnerConfig{Template: "t"}},
				{Name: "b", Cluster: ClusterConfig{Endpoint: "http://b:1"}, Runner: &RunnerConfig{Template: "t"}},
				{
					Name: "c", Cluster: ClusterConfig{Endpoint: "http://base:1"},
					Cache: &CacheConfig{Storage: "/other"}, Runner: &RunnerConfig{Template: "t"},
				},
			}},
		},
		{name: "empty file", yaml: "", want: &File{}},
		{name: "only comments", yaml: "# nothing yet\n", want: &File{}},
		{name: "null document", yaml: "~\n", want: &File{}},

		{name: "syntax error", yaml: "current-context: a\n  contexts: x\n", wantErr: "$PATH:2: invalid YAML: mapping values are not allowed in this context"},
		{name: "syntax error without a line", yaml: "\tcontexts: x\n", wantErr: "$PATH: invalid YAML: found character that cannot start any token"},
		{name: "unknown anchor", yaml: "contexts: *nope\n", wantErr: "$PATH: invalid YAML: unknown anchor 'nope' referenced"},
		{name: "top level is a list", yaml: "- a\n", wantErr: "$PATH:1: expected a mapping with current-context and contexts at the top, got a list"},
		{name: "current-context is a mapping", yaml: "current-context: {a: 1}\n", wantErr: "$PATH:1: current-context: expected a string, got a mapping"},
		{name: "contexts is a number", yaml: "contexts: 5\n", wantErr: `$PATH:1: contexts: expected a list of contexts, got "5"`},
		{name: "contexts is a mapping", yaml: "contexts:\n  a: {}\n", wantErr: "$PATH:2: contexts: expected a list of contexts, got a mapping"},
		{name: "context is a string", yaml: "contexts:\n  - a\n", wantErr: `$PATH:2: contexts[0]: expected a mapping, got "a"`},
		{name: "context is empty", yaml: "contexts:\n  -\n  - name: b\n", wantErr: "contexts[0]: expected a context (a mapping with name and cluster), got nothing"},
		{name: "context without a name", yaml: "contexts:\n  - name: a\n  - cluster: {}\n", wantErr: "$PATH:3: contexts[1].name: missing; every context needs a name"},
		{name: "duplicate context", yaml: "contexts:\n  - name: a\n  - name: b\n  - name: a\n", wantErr: `$PATH:4: contexts[2].name: context "a" is already defined at line 2; rename or remove one`},
		{name: "repeated key", yaml: "contexts:\n  - name: a\n    name: b\n", wantErr: "$PATH:3: contexts[0].name: key repeated (first at line 2); remove one"},
		{name: "name is a list", yaml: "contexts:\n  - name: [a]\n", wantErr: "$PATH:2: contexts[0].name: expected a string, got a list"},
		{name: "tls is a string", yaml: "contexts:\n  - name: a\n    cluster:\n      tls: yes\n", wantErr: `$PATH:4: contexts[0].cluster.tls: expected a mapping, got "yes"`},
		{name: "cache endpoint is a list", yaml: "contexts:\n  - name: a\n    cache:\n      endpoint: [x]\n", wantErr: "$PATH:4: contexts[0].cache.endpoint: expected a string, got a list"},
		{name: "excludes is a string", yaml: "contexts:\n  - name: a\n    package:\n      excludes: '*.log'\n", wantErr: `$PATH:4: contexts[0].package.excludes: expected a list of strings, got "*.log"`},
		{name: "excludes item is a mapping", yaml: "contexts:\n  - name: a\n    package:\n      excludes:\n        - a\n        - {b: c}\n", wantErr: "$PATH:6: contexts[0].package.excludes[1]: expected a string, got a mapping"},
		{name: "merges that merge each other", yaml: mergeBomb(40), wantErr: "once merge keys (<<) are expanded"},
		{name: "runner is a list", yaml: "contexts:\n  - name: a\n    runner: [x]\n", wantErr: "$PATH:3: contexts[0].runner: expected a mapping, got a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "flame.yaml")
			writeFiles(t, dir, map[string]string{"flame.yaml": tt.yaml})

			got, err := Load(path)

			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "$PATH", path)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("Load() = %+v, %v; want error containing %q", got, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			tt.want.Path = path
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(File{})); diff != "" {
				t.Errorf("Load() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoad_missing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flame.yaml")
	if _, err := Load(path); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("Load(missing) error = %v, want fs.ErrNotExist naming %s", err, path)
	}
	f, err := LoadOrEmpty(path)
	if err != nil {
		t.Fatalf("LoadOrEmpty(missing) error = %v", err)
	}
	if f.Path != path || f.CurrentContext != "" || len(f.Contexts) != 0 {
		t.Errorf("LoadOrEmpty(missing) = %+v, want an empty File with Path %s", f, path)
	}
}

func TestLoadOrEmpty_badFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flame.yaml": "contexts: 5\n"})
	if _, err := LoadOrEmpty(filepath.Join(dir, "flame.yaml")); err == nil {
		t.Error("LoadOrEmpty(bad file) error = nil, want the parse error")
	}
}

func TestDefaultPath(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{name: "FLAME_CONFIG", env: map[string]string{"FLAME_CONFIG": "/etc/flame.yaml", "HOME": "/home/u"}, want: "/etc/flame.yaml"},
		{name: "HOME", env: map[string]string{"HOME": "/home/u"}, want: "/home/u/.flame/flame.yaml"},
		{name: "empty FLAME_CONFIG", env: map[string]string{"FLAME_CONFIG": "", "HOME": "/home/u"}, want: "/home/u/.flame/flame.yaml"},
		{name: "neither", env: map[string]string{}, wantErr: "neither FLAME_CONFIG nor HOME is set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DefaultPath(envMap(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DefaultPath() = %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("DefaultPath() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func testFile() *File {
	return &File{
		Path:           "/x/flame.yaml",
		CurrentContext: "a",
		Contexts: []Context{
			{Name: "a", Cluster: ClusterConfig{Endpoint: "http://a"}},
			{Name: "b", Cluster: ClusterConfig{Endpoint: "http://b"}, Package: &PackageConfig{Excludes: []string{"x"}}},
		},
	}
}

func TestFile_Context(t *testing.T) {
	f := testFile()
	c, err := f.Context("b")
	if err != nil || c.Cluster.Endpoint != "http://b" {
		t.Fatalf("Context(b) = %+v, %v", c, err)
	}
	// It is a copy: changing it leaves the file alone.
	c.Cluster.Endpoint = "http://changed"
	c.Package.Excludes[0] = "changed"
	if got := f.Contexts[1]; got.Cluster.Endpoint != "http://b" || got.Package.Excludes[0] != "x" {
		t.Errorf("changing the result of Context changed the file: %+v", got)
	}

	_, err = f.Context("zz")
	want := `context "zz" not found in /x/flame.yaml; available: a, b (see "flmctl context list")`
	var uerr *UnknownContextError
	if !errors.As(err, &uerr) || err.Error() != want {
		t.Errorf("Context(zz) error = %v, want *UnknownContextError %q", err, want)
	}
}

func TestUnknownContextError(t *testing.T) {
	tests := []struct {
		err  UnknownContextError
		want string
	}{
		{UnknownContextError{Name: "x", Available: []string{"a"}, File: "/f"}, `context "x" not found in /f; available: a (see "flmctl context list")`},
		{UnknownContextError{Name: "x", File: "/f"}, `context "x" not found: /f has no contexts`},
		{UnknownContextError{Name: "x"}, `context "x" not found: there is no config file`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestFile_Current(t *testing.T) {
	tests := []struct {
		name     string
		current  string
		contexts []Context
		want     string // context name
		wantErr  string
	}{
		{name: "set", current: "b", contexts: testFile().Contexts, want: "b"},
		{name: "unset", contexts: testFile().Contexts, wantErr: `no current context: /x/flame.yaml sets no current-context; choose one with "flmctl context use NAME" (available: a, b)`},
		{name: "dangling", current: "zz", contexts: testFile().Contexts, wantErr: `no current context: /x/flame.yaml: current-context "zz" is not one of the contexts (a, b); choose one with "flmctl context use NAME"`},
		{name: "no contexts", wantErr: "no current context: /x/flame.yaml has no contexts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &File{Path: "/x/flame.yaml", CurrentContext: tt.current, Contexts: tt.contexts}
			got, err := f.Current()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, ErrNoCurrentContext) {
					t.Fatalf("Current() = %+v, %v; want error %q wrapping ErrNoCurrentContext", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Name != tt.want {
				t.Errorf("Current() = %+v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestFile_SetContext(t *testing.T) {
	f := testFile()
	c := Context{Name: "b", Cluster: ClusterConfig{Endpoint: "http://b2"}, Package: &PackageConfig{Excludes: []string{}}}
	f.SetContext(c)
	f.SetContext(Context{Name: "c"})
	want := []Context{
		{Name: "a", Cluster: ClusterConfig{Endpoint: "http://a"}},
		{Name: "b", Cluster: ClusterConfig{Endpoint: "http://b2"}, Package: &PackageConfig{}},
		{Name: "c"},
	}
	if diff := cmp.Diff(want, f.Contexts); diff != "" {
		t.Errorf("Contexts after SetContext mismatch (-want +got):\n%s", diff)
	}
	c.Package.Storage = "changed"
	if f.Contexts[1].Package.Storage != "" {
		t.Error("SetContext kept a reference to the caller's Context")
	}
}

func TestFile_DeleteContext(t *testing.T) {
	f := testFile()
	if err := f.DeleteContext("b"); err != nil {
		t.Fatal(err)
	}
	if got := f.Names(); !cmp.Equal(got, []string{"a"}) || f.CurrentContext != "a" {
		t.Errorf("after deleting b: names %v, current %q; want [a], a", got, f.CurrentContext)
	}
	if err := f.DeleteContext("a"); err != nil {
		t.Fatal(err)
	}
	if len(f.Contexts) != 0 || f.CurrentContext != "" {
		t.Errorf("after deleting the current context: %+v, want no contexts and no current-context", f)
	}
	var uerr *UnknownContextError
	if err := f.DeleteContext("a"); !errors.As(err, &uerr) || uerr.Name != "a" {
		t.Errorf("DeleteContext(unknown) error = %v, want *UnknownContextError", err)
	}
}

func TestFile_UseContext(t *testing.T) {
	f := testFile()
	if err := f.UseContext("b"); err != nil || f.CurrentContext != "b" {
		t.Fatalf("UseContext(b) = %v, current %q", err, f.CurrentContext)
	}
	var uerr *UnknownContextError
	if err := f.UseContext("zz"); !errors.As(err, &uerr) || uerr.Name != "zz" || f.CurrentContext != "b" {
		t.Errorf("UseContext(zz) = %v, current %q; want *UnknownContextError and no change", err, f.CurrentContext)
	}
}

func TestFile_Validate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flame.yaml")
	writeFiles(t, dir, map[string]string{"flame.yaml": `current-context: nope
contexts:
  - name: a
    cluster:
      endpoint: a:8080
  - name: b
    cache:
      endpoint: http://c
  - name: c
    cluster: {endpoint: "https://c"}
    cache: {endpoint: "grpcs://c"}
`})
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want errors")
	}
	for _, want := range []string{
		path + `:1: current-context "nope" is not one of the contexts (a, b, c)`,
		path + `:5: contexts[0].cluster.endpoint: invalid cluster endpoint "a:8080": missing scheme`,
		path + `:8: contexts[1].cache.endpoint: invalid cache endpoint "http://c": unsupported scheme "http"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, want it to contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "contexts[2]") {
		t.Errorf("Validate() reported the valid context: %v", err)
	}

	if err := f.UseContext("c"); err != nil {
		t.Fatal(err)
	}
	f.SetContext(Context{Name: "a", Cluster: ClusterConfig{Endpoint: "http://a"}})
	f.Contexts[1].Cache.Endpoint = "grpc://c"
	if err := f.Validate(); err != nil {
		t.Errorf("Validate() after fixing = %v", err)
	}
}

// mergeBomb returns a file whose merge keys expand to 2^n mappings.
func mergeBomb(n int) string {
	var b strings.Builder
	b.WriteString("x0: &x0 {}\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "x%d: &x%d\n  <<: [*x%d, *x%d]\n", i, i, i-1, i-1)
	}
	fmt.Fprintf(&b, "contexts:\n  - name: c\n    <<: *x%d\n", n-1)
	return b.String()
}
