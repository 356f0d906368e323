package contexts

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// envMap returns a LookupEnv backed by m.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(key string) (string, bool) {
		v, ok := m[key]
		return v, ok
	}
}

// writeFiles writes files (paths relative to dir) and returns dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

const defaultFile = "home/.flame/flame.yaml"

const twoContexts = `current-context: a
contexts:
  - name: a
    cluster:
      endpoint: http://a.example:8080
    cache:
      endpoint: grpc://a.example:9090
      storage: /a/cache
    package:
      storage: file:///a/pkgs
      excludes: ["*.log", "__pycache__"]
    runner:
      template: arun
  - name: b
    cluster:
      endpoint: https://b.example
`

func oneContext(name, endpoint string) string {
	return "current-context: " + name + "\ncontexts:\n  - name: " + name + "\n    cluster:\n      endpoint: " + endpoint + "\n"
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // relative to $DIR; $DIR in contents is expanded
		env     map[string]string // HOME is $DIR/home unless noHome
		noHome  bool
		opts    Options // $DIR in ConfigFile is expanded
		want    Resolved
		wantErr string // substring of the error; $DIR is expanded
		wantIs  error
	}{
		{
			name: "no file, no env: defaults",
			want: Resolved{},
		},
		{
			name: "no file, FLAME_ENDPOINT alone is enough",
			env:  map[string]string{"FLAME_ENDPOINT": "http://env.example:1234"},
			want: Resolved{Endpoint: "http://env.example:1234"},
		},
		{
			name:   "no HOME, FLAME_ENDPOINT",
			noHome: true,
			env:    map[string]string{"FLAME_ENDPOINT": "https://env.example"},
			want:   Resolved{Endpoint: "https://env.example"},
		},
		{
			name:  "default file, current context",
			files: map[string]string{defaultFile: twoContexts},
			want: Resolved{
				Name:            "a",
				ConfigFile:      "$DIR/" + defaultFile,
				Endpoint:        "http://a.example:8080",
				CacheEndpoint:   "grpc://a.example:9090",
				CacheStorage:    "/a/cache",
				PackageStorage:  "file:///a/pkgs",
				PackageExcludes: []string{".venv", "__pycache__", ".gitignore", "*.pyc", "*.log"},
				RunnerTemplate:  "arun",
			},
		},
		{
			name:  "--context beats current-context",
			files: map[string]string{defaultFile: twoContexts},
			opts:  Options{Context: "b"},
			want:  Resolved{Name: "b", ConfigFile: "$DIR/" + defaultFile, Endpoint: "https://b.example"},
		},
		{
			name:  "env beats file",
			files: map[string]string{defaultFile: twoContexts},
			env: map[string]string{
				"FLAME_ENDPOINT":       "http://env:1",
				"FLAME_CACHE_ENDPOINT": "grpcs://env:2",
				"FLAME_CACHE_STORAGE":  "/env/cache",
			},
			want: Resolved{
				Name:            "a",
				ConfigFile:      "$DIR/" + defaultFile,
				Endpoint:        "http://env:1",
				CacheEndpoint:   "grpcs://env:2",
				CacheStorage:    "/env/cache",
				PackageStorage:  "file:///a/pkgs",
				PackageExcludes: []string{".venv", "__pycache__", ".gitignore", "*.pyc", "*.log"},
				RunnerTemplate:  "arun",
			},
		},
		{
			name:  "env creates cache settings for a context without them",
			files: map[string]string{defaultFile: twoContexts},
			opts:  Options{Context: "b"},
			env:   map[string]string{"FLAME_CACHE_ENDPOINT": "grpc+tls://env:2", "FLAME_CACHE_STORAGE": "/env/cache"},
			want: Resolved{
				Name: "b", ConfigFile: "$DIR/" + defaultFile, Endpoint: "https://b.example",
				CacheEndpoint: "grpc+tls://env:2", CacheStorage: "/env/cache",
			},
		},
		{
			name:  "--endpoint beats env and file",
			files: map[string]string{defaultFile: oneContext("a", "http://file:1")},
			env:   map[string]string{"FLAME_ENDPOINT": "http://env:1"},
			opts:  Options{Endpoint: "http://flag:1"},
			want:  Resolved{Name: "a", ConfigFile: "$DIR/" + defaultFile, Endpoint: "http://flag:1"},
		},
		{
			name: "--endpoint beats the default",
			opts: Options{Endpoint: "unix:///run/flame.sock"},
			want: Resolved{Endpoint: "unix:///run/flame.sock"},
		},
		{
			name:  "empty env values are ignored",
			files: map[string]string{defaultFile: twoContexts},
			opts:  Options{Context: "b"},
			env: map[string]string{
				"FLAME_CONFIG": "", "FLAME_ENDPOINT": "", "FLAME_CACHE_ENDPOINT": "  ",
				"FLAME_CACHE_STORAGE": "", "FLAME_CA_FILE": "",
			},
			want: Resolved{Name: "b", ConfigFile: "$DIR/" + defaultFile, Endpoint: "https://b.example"},
		},
		{
			name: "--config beats FLAME_CONFIG and the default file",
			files: map[string]string{
				"flag.yaml": oneContext("flag", "http://flag:1"),
				"env.yaml":  oneContext("env", "http://env:1"),
				defaultFile: oneContext("home", "http://home:1"),
			},
			env:  map[string]string{"FLAME_CONFIG": "$DIR/env.yaml"},
			opts: Options{ConfigFile: "$DIR/flag.yaml"},
			want: Resolved{Name: "flag", ConfigFile: "$DIR/flag.yaml", Endpoint: "http://flag:1"},
		},
		{
			name: "FLAME_CONFIG beats the default file",
			files: map[string]string{
				"env.yaml":  oneContext("env", "http://env:1"),
				defaultFile: oneContext("home", "http://home:1"),
			},
			env:  map[string]string{"FLAME_CONFIG": "$DIR/env.yaml"},
			want: Resolved{Name: "env", ConfigFile: "$DIR/env.yaml", Endpoint: "http://env:1"},
		},
		{
			name:    "--config must exist",
			files:   map[string]string{defaultFile: twoContexts},
			opts:    Options{ConfigFile: "$DIR/nope.yaml"},
			wantErr: "config file $DIR/nope.yaml (set by --config): file does not exist",
			wantIs:  fs.ErrNotExist,
		},
		{
			name:    "FLAME_CONFIG must exist",
			files:   map[string]string{defaultFile: twoContexts},
			env:     map[string]string{"FLAME_CONFIG": "$DIR/nope.yaml"},
			wantErr: "config file $DIR/nope.yaml (set by FLAME_CONFIG): file does not exist",
			wantIs:  fs.ErrNotExist,
		},
		{
			name:  "a file without contexts is like no file",
			files: map[string]string{"empty.yaml": "# nothing yet\ncurrent-context: gone\ncontexts: []\n"},
			opts:  Options{ConfigFile: "$DIR/empty.yaml"},
			want:  Resolved{ConfigFile: "$DIR/empty.yaml"},
		},
		{
			name:  "an empty file is like no file",
			files: map[string]string{defaultFile: ""},
			env:   map[string]string{"FLAME_ENDPOINT": "http://env:1"},
			want:  Resolved{ConfigFile: "$DIR/" + defaultFile, Endpoint: "http://env:1"},
		},
		{
			name:    "unknown --context",
			files:   map[string]string{defaultFile: twoContexts},
			opts:    Options{Context: "zz"},
			wantErr: `context "zz" not found in $DIR/home/.flame/flame.yaml; available: a, b (see "flmctl context list")`,
		},
		{
			name:    "--context without a file",
			opts:    Options{Context: "a"},
			wantErr: `context "a" not found: there is no config file`,
		},
		{
			name:    "missing current-context",
			files:   map[string]string{defaultFile: "contexts:\n  - name: a\n  - name: b\n"},
			wantErr: `no current context: $DIR/home/.flame/flame.yaml sets no current-context; choose one with "flmctl context use NAME" (available: a, b)`,
			wantIs:  ErrNoCurrentContext,
		},
		{
			name:    "current-context names no context",
			files:   map[string]string{defaultFile: "current-context: zz\ncontexts:\n  - name: a\n"},
			wantErr: `no current context: $DIR/home/.flame/flame.yaml:1: current-context "zz" is not one of the contexts (a); choose one with "flmctl context use NAME"`,
			wantIs:  ErrNoCurrentContext,
		},
		{
			name:    "--context works without current-context",
			files:   map[string]string{defaultFile: "contexts:\n  - name: a\n"},
			opts:    Options{Context: "a"},
			wantErr: "",
			want:    Resolved{Name: "a", ConfigFile: "$DIR/" + defaultFile},
		},
		{
			name:    "bad YAML names file and line",
			files:   map[string]string{defaultFile: "current-context: a\ncontexts:\n  - name: a\n    cluster: [\n"},
			wantErr: "$DIR/home/.flame/flame.yaml:4: invalid YAML: did not find expected node content",
		},
		{
			name:    "wrong type names field and line",
			files:   map[string]string{defaultFile: "current-context: a\ncontexts: 5\n"},
			wantErr: `$DIR/home/.flame/flame.yaml:2: contexts: expected a list of contexts, got "5"`,
		},
		{
			name:    "wrong nested type names field path and line",
			files:   map[string]string{defaultFile: "current-context: a\ncontexts:\n  - name: a\n    cluster: [x]\n"},
			wantErr: "$DIR/home/.flame/flame.yaml:4: contexts[0].cluster: expected a mapping, got a list",
		},
		{
			name: "file endpoint without scheme",
			files: map[string]string{defaultFile: "current-context: b\ncontexts:\n  - name: a\n  - name: b\n" +
				"    cluster:\n      endpoint: b.example:8080\n"},
			wantErr: `$DIR/home/.flame/flame.yaml:6: contexts[1].cluster.endpoint: invalid cluster endpoint "b.example:8080": ` +
				`missing scheme; want http://, https:// or unix:// (e.g. http://127.0.0.1:8080)`,
		},
		{
			name:    "FLAME_ENDPOINT with the wrong scheme",
			env:     map[string]string{"FLAME_ENDPOINT": "grpc://x:1"},
			wantErr: `FLAME_ENDPOINT: invalid cluster endpoint "grpc://x:1": unsupported scheme "grpc"; want http://`,
		},
		{
			name:    "--endpoint without a host",
			opts:    Options{Endpoint: "http://:8080"},
			wantErr: `--endpoint: invalid cluster endpoint "http://:8080": missing host`,
		},
		{
			name: "file cache endpoint with the wrong scheme",
			files: map[string]string{defaultFile: "current-context: a\ncontexts:\n  - name: a\n" +
				"    cache:\n      endpoint: http://c:9090\n"},
			wantErr: `$DIR/home/.flame/flame.yaml:5: contexts[0].cache.endpoint: invalid cache endpoint "http://c:9090": ` +
				`unsupported scheme "http"; want grpc://, grpcs:// or grpc+tls:// (e.g. grpc://127.0.0.1:9090)`,
		},
		{
			name:    "FLAME_CACHE_ENDPOINT without a scheme",
			env:     map[string]string{"FLAME_CACHE_ENDPOINT": "cache:9090"},
			wantErr: `FLAME_CACHE_ENDPOINT: invalid cache endpoint "cache:9090": missing scheme`,
		},
		{
			name: "CA files from the file",
			files: map[string]string{
				"ca.pem": "x", "cache-ca.pem": "y",
				defaultFile: "current-context: a\ncontexts:\n  - name: a\n    cluster:\n      endpoint: https://a\n" +
					"      tls: {ca_file: $DIR/ca.pem}\n    cache:\n      tls: {ca_file: $DIR/cache-ca.pem}\n",
			},
			env: map[string]string{"FLAME_CA_FILE": "$DIR/missing.pem"}, // not used: both are set
			want: Resolved{
				Name: "a", ConfigFile: "$DIR/" + defaultFile, Endpoint: "https://a",
				CAFile: "$DIR/ca.pem", CacheCAFile: "$DIR/cache-ca.pem",
			},
		},
		{
			name:  "FLAME_CA_FILE fills in both CA files",
			files: map[string]string{"ca.pem": "x"},
			env:   map[string]string{"FLAME_CA_FILE": "$DIR/ca.pem"},
			want:  Resolved{CAFile: "$DIR/ca.pem", CacheCAFile: "$DIR/ca.pem"},
		},
		{
			name: "FLAME_CA_FILE fills in only what the context leaves unset",
			files: map[string]string{
				"ca.pem": "x", "env.pem": "y",
				defaultFile: "current-context: a\ncontexts:\n  - name: a\n    cluster:\n      tls:\n        ca_file: $DIR/ca.pem\n",
			},
			env:  map[string]string{"FLAME_CA_FILE": "$DIR/env.pem"},
			want: Resolved{Name: "a", ConfigFile: "$DIR/" + defaultFile, CAFile: "$DIR/ca.pem", CacheCAFile: "$DIR/env.pem"},
		},
		{
			name: "missing CA file in the file",
			files: map[string]string{
				defaultFile: "current-context: a\ncontexts:\n  - name: a\n    cluster:\n      tls:\n        ca_file: $DIR/missing.pem\n",
			},
			wantErr: "$DIR/home/.flame/flame.yaml:6: contexts[0].cluster.tls.ca_file: cannot read CA file $DIR/missing.pem: no such file or directory",
			wantIs:  fs.ErrNotExist,
		},
		{
			name:    "missing FLAME_CA_FILE",
			env:     map[string]string{"FLAME_CA_FILE": "$DIR/missing.pem"},
			wantErr: "FLAME_CA_FILE: cannot read CA file $DIR/missing.pem: no such file or directory",
			wantIs:  fs.ErrNotExist,
		},
		{
			name:    "a directory is not a CA file",
			env:     map[string]string{"FLAME_CA_FILE": "$DIR"},
			wantErr: "FLAME_CA_FILE: cannot read CA file $DIR: is a directory",
		},
		{
			name: "package excludes need package storage",
			files: map[string]string{
				defaultFile: "current-context: a\ncontexts:\n  - name: a\n    package:\n      excludes: [\"*.log\"]\n",
			},
			want: Resolved{Name: "a", ConfigFile: "$DIR/" + defaultFile},
		},
		{
			name: "package storage without excludes gets the defaults",
			files: map[string]string{
				defaultFile: "current-context: a\ncontexts:\n  - name: a\n    package:\n      storage: file:///p\n",
			},
			want: Resolved{
				Name: "a", ConfigFile: "$DIR/" + defaultFile,
				PackageStorage: "file:///p", PackageExcludes: []string{".venv", "__pycache__", ".gitignore", "*.pyc"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			expand := func(s string) string { return strings.ReplaceAll(s, "$DIR", dir) }
			files := make(map[string]string)
			for name, content := range tt.files {
				files[name] = expand(content)
			}
			writeFiles(t, dir, files)
			env := map[string]string{"HOME": filepath.Join(dir, "home")}
			if tt.noHome {
				delete(env, "HOME")
			}
			for k, v := range tt.env {
				env[k] = expand(v)
			}
			opts := tt.opts
			opts.ConfigFile = expand(opts.ConfigFile)
			opts.LookupEnv = envMap(env)

			got, err := Resolve(opts)

			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Resolve() = %+v, want error containing %q", got, expand(tt.wantErr))
				}
				if !strings.Contains(err.Error(), expand(tt.wantErr)) {
					t.Fatalf("Resolve() error = %q, want it to contain %q", err, expand(tt.wantErr))
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve() error = %v", err)
			}
			want := tt.want
			want.ConfigFile = expand(want.ConfigFile)
			want.CAFile, want.CacheCAFile = expand(want.CAFile), expand(want.CacheCAFile)
			if want.Endpoint == "" {
				want.Endpoint = DefaultEndpoint
			}
			if want.CacheEndpoint == "" {
				want.CacheEndpoint = DefaultCacheEndpoint
			}
			if want.RunnerTemplate == "" {
				want.RunnerTemplate = DefaultRunnerTemplate
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("Resolve() mismatch (-want +got):\n%s", diff)
			}
			// Resolving never writes: overrides must not reach the file.
			for name, content := range files {
				if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != content {
					t.Errorf("%s changed by Resolve: %q, %v", name, b, err)
				}
			}
		})
	}
}

func TestResolve_unknownContextError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flame.yaml")
	writeFiles(t, dir, map[string]string{"flame.yaml": twoContexts})
	_, err := Resolve(Options{ConfigFile: path, Context: "zz", LookupEnv: envMap(nil)})
	var uerr *UnknownContextError
	if !errors.As(err, &uerr) {
		t.Fatalf("Resolve() error = %v, want *UnknownContextError", err)
	}
	want := &UnknownContextError{Name: "zz", Available: []string{"a", "b"}, File: path}
	if diff := cmp.Diff(want, uerr); diff != "" {
		t.Errorf("error mismatch (-want +got):\n%s", diff)
	}
}
