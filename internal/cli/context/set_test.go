package context

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flmctl/flmctl/pkg/contexts"
)

func ptr(s string) *string { return &s }

func TestNewCmdSet(t *testing.T) {
	tests := []struct {
		line    string
		want    SetOptions
		wantErr string
	}{
		{"dev --endpoint http://h:1", SetOptions{Name: "dev", Endpoint: ptr("http://h:1")}, ""},
		{"dev", SetOptions{Name: "dev"}, ""},
		{"dev --ca-file= --cache-storage /d --current", SetOptions{Name: "dev", CAFile: ptr(""), CacheStorage: ptr("/d"), Current: true}, ""},
		{"dev --cache-endpoint grpc://h:9090", SetOptions{Name: "dev", CacheEndpoint: ptr("grpc://h:9090")}, ""},
		{"dev --endpoint ftp://h:1", SetOptions{}, "invalid --endpoint: "},
		{"dev --cache-endpoint http://h:9090", SetOptions{}, "invalid --cache-endpoint: "},
		{"", SetOptions{}, "context set needs the name of the context to create or change"},
		{"context/", SetOptions{}, "a context name must not be empty"},
		{"dev --bogus", SetOptions{}, "unknown flag: --bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, "", false, nil)
			var got *SetOptions
			err := execute(t, e.f, NewCmdSet(e.f, func(o *SetOptions) error { got = o; return nil }), tt.line)
			if tt.wantErr != "" {
				if !isFlagError(err) || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want *FlagError starting %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.IO, got.ConfigPath = nil, nil
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// The global --endpoint of the root must not leak into the --endpoint that
// "context set" stores.
func TestNewCmdSet_EndpointShadowsGlobal(t *testing.T) {
	e := newTestEnv(t, "", false, nil)
	var got *SetOptions
	if err := execute(t, e.f, NewCmdSet(e.f, func(o *SetOptions) error { got = o; return nil }), "dev --endpoint http://h:1"); err != nil {
		t.Fatal(err)
	}
	if e.f.Globals.Endpoint != "" || got.Endpoint == nil || *got.Endpoint != "http://h:1" {
		t.Errorf("global %q, stored %v", e.f.Globals.Endpoint, got.Endpoint)
	}
}

func TestSetRun(t *testing.T) {
	caDir := t.TempDir()
	ca := filepath.Join(caDir, "ca.crt")
	if err := os.WriteFile(ca, []byte("pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		content    string
		opts       SetOptions
		wantFile   string // "" means: check wantCtx instead
		wantCtx    *contexts.Context
		wantCur    string
		wantErrOut string
		wantErr    string
	}{
		{
			name:       "first context in a new file",
			opts:       SetOptions{Name: "local", Endpoint: ptr("http://127.0.0.1:8080")},
			wantFile:   "current-context: local\ncontexts:\n  - name: local\n    cluster:\n      endpoint: http://127.0.0.1:8080\n",
			wantCur:    "local",
			wantErrOut: "Context \"local\" created in %s.\nSwitched to context \"local\".\n",
		},
		{
			name:    "change one field, keep the rest",
			content: sample,
			opts:    SetOptions{Name: "prod", CacheEndpoint: ptr("grpc://cache:9090")},
			wantCtx: &contexts.Context{Name: "prod",
				Cluster: contexts.ClusterConfig{Endpoint: "https://flame.example.com:8080"},
				Cache:   &contexts.CacheConfig{Endpoint: "grpc://cache:9090", Storage: "/shared/cache"}},
			wantCur:    "local",
			wantErrOut: "Context \"prod\" modified in %s.\n",
		},
		{
			name:    "empty values remove settings",
			content: sample,
			opts:    SetOptions{Name: "prod", CacheEndpoint: ptr(""), CacheStorage: ptr("")},
			wantCtx: &contexts.Context{Name: "prod",
				Cluster: contexts.ClusterConfig{Endpoint: "https://flame.example.com:8080"}},
			wantCur:    "local",
			wantErrOut: "Context \"prod\" modified in %s.\n",
		},
		{
			name:    "ca file and current",
			content: sample,
			opts:    SetOptions{Name: "prod", CAFile: ptr(ca), Current: true},
			wantCtx: &contexts.Context{Name: "prod",
				Cluster: contexts.ClusterConfig{Endpoint: "https://flame.example.com:8080", TLS: &contexts.TLSConfig{CAFile: ca}},
				Cache:   &contexts.CacheConfig{Endpoint: "grpcs://flame.example.com:9090", Storage: "/shared/cache", TLS: &contexts.TLSConfig{CAFile: ca}}},
			wantCur:    "prod",
			wantErrOut: "Context \"prod\" modified in %s.\nSwitched to context \"prod\".\n",
		},
		{
			name:    "new context needs an endpoint",
			content: sample,
			opts:    SetOptions{Name: "dev", CacheStorage: ptr("/d")},
			wantErr: `context "dev" does not exist yet; creating it needs --endpoint`,
		},
		{
			name:    "missing ca file",
			content: sample,
			opts:    SetOptions{Name: "prod", CAFile: ptr(filepath.Join(caDir, "nope.crt"))},
			wantErr: "--ca-file " + filepath.Join(caDir, "nope.crt") + " does not exist",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, tt.content, false, nil)
			tt.opts.IO, tt.opts.ConfigPath = e.f.IOStreams, e.f.ConfigPath
			err := setRun(&tt.opts)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				if tt.content != "" && e.file(t) != tt.content {
					t.Error("file changed by a failed set")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantFile != "" {
				if got := e.file(t); got != tt.wantFile {
					t.Errorf("file:\n%s\nwant:\n%s", got, tt.wantFile)
				}
			}
			file, err := contexts.Load(e.path)
			if err != nil {
				t.Fatal(err)
			}
			if file.CurrentContext != tt.wantCur {
				t.Errorf("current-context %q, want %q", file.CurrentContext, tt.wantCur)
			}
			if tt.wantCtx != nil {
				c, err := file.Context(tt.wantCtx.Name)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wantCtx, c); diff != "" {
					t.Errorf("context (-want +got):\n%s", diff)
				}
				if !strings.HasPrefix(e.file(t), "# my Flame contexts\n") {
					t.Error("comments lost")
				}
			}
			if want := strings.ReplaceAll(tt.wantErrOut, "%s", e.path); e.errOut.String() != want {
				t.Errorf("stderr %q, want %q", e.errOut.String(), want)
			}
			if e.out.Len() != 0 {
				t.Errorf("stdout %q", e.out.String())
			}
		})
	}
}

func TestSetRun_RelativeCAFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("ca.crt", []byte("pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, "", false, nil)
	err := setRun(&SetOptions{IO: e.f.IOStreams, ConfigPath: e.f.ConfigPath, Name: "x", Endpoint: ptr("https://h:1"), CAFile: ptr("ca.crt")})
	if err != nil {
		t.Fatal(err)
	}
	file, _ := contexts.Load(e.path)
	c, _ := file.Context("x")
	if want := filepath.Join(dir, "ca.crt"); c.Cluster.TLS == nil || c.Cluster.TLS.CAFile != want {
		t.Errorf("tls %+v, want ca_file %s", c.Cluster.TLS, want)
	}
}
