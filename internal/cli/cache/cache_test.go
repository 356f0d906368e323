package cache

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/pkg/client"
)

const (
	putKeyRule = `invalid cache key "a": expected "<app>/<session>" or "<app>/<session>/<object>"`
	getKeyRule = `invalid cache key "a/s": expected "<app>/<session>/<object>"`
)

func TestNewCmdPut(t *testing.T) {
	tests := []struct {
		line    string
		tty     bool
		want    PutOptions
		wantErr string
	}{
		{"app/s ./f", false, PutOptions{Key: "app/s", Source: "./f"}, ""},
		{"app/s", false, PutOptions{Key: "app/s", Source: "-"}, ""},
		{"app/s -", true, PutOptions{Key: "app/s", Source: "-"}, ""},
		{"app/s/o f --raw -o json", false, PutOptions{Key: "app/s/o", Source: "f", Raw: true, Format: "json"}, ""},
		{"app/s f --output name", false, PutOptions{Key: "app/s", Source: "f", Format: "name"}, ""},
		{"app/s", true, PutOptions{}, "cache put needs data: give a file, or pipe the data to stdin (or pass - to type it)"},
		{"", false, PutOptions{}, `cache put needs a prefix "<app>/<session>" or a key "<app>/<session>/<object>"`},
		{"a f", false, PutOptions{}, putKeyRule},
		{"a/b/c/d f", false, PutOptions{}, `invalid cache key "a/b/c/d": expected "<app>/<session>" or "<app>/<session>/<object>"`},
		{"'a/*' f", false, PutOptions{}, `invalid cache key "a/*": the wildcard "<app>/*" is only accepted by delete; expected "<app>/<session>" or "<app>/<session>/<object>"`},
		{"a/../x f", false, PutOptions{}, `invalid cache key "a/../x": session component ".." must not be "." or contain ".."`},
		{"a/s f -o table", false, PutOptions{}, `unknown output format "table"; allowed: json, yaml, name`},
		{"a/s f g", false, PutOptions{}, `too many arguments for "flmctl put": g`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, tt.tty)
			var got *PutOptions
			err := execute(t, e.F, NewCmdPut(e.F, func(_ context.Context, o *PutOptions) error { got = o; return nil }), tt.line)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if got.Key != tt.want.Key || got.Source != tt.want.Source || got.Raw != tt.want.Raw || got.Format != tt.want.Format {
				t.Errorf("options %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestNewCmdGet(t *testing.T) {
	tests := []struct {
		line    string
		want    GetOptions
		wantErr string
	}{
		{"a/s/o", GetOptions{Key: "a/s/o"}, ""},
		{"a/s/o --version 3 -f out", GetOptions{Key: "a/s/o", Version: 3, File: "out"}, ""},
		{"a/s/o --patches", GetOptions{Key: "a/s/o", Patches: true, Format: "json"}, ""},
		{"a/s/o --patches --output yaml", GetOptions{Key: "a/s/o", Patches: true, Format: "yaml"}, ""},
		{"a/s/o -o json", GetOptions{Key: "a/s/o", Format: "json"}, ""},
		{"a/s", GetOptions{}, getKeyRule},
		{"a/s/o --version -1", GetOptions{}, "invalid --version -1: versions start at 1"},
		{"a/s/o -o name", GetOptions{}, `unknown output format "name"; allowed: json, yaml`},
		{"", GetOptions{}, `cache get needs a key "<app>/<session>/<object>" (see "flmctl cache list")`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, false)
			var got *GetOptions
			err := execute(t, e.F, NewCmdGet(e.F, func(_ context.Context, o *GetOptions) error { got = o; return nil }), tt.line)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreFields(*got, "IO", "Cache")); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewCmdPatchUploadDownload(t *testing.T) {
	e := newTestEnv(t, false)
	var p *PatchOptions
	err := execute(t, e.F, NewCmdPatch(e.F, func(_ context.Context, o *PatchOptions) error { p = o; return nil }), "a/s/o --raw -o yaml")
	if err != nil || p.Key != "a/s/o" || p.Source != "-" || !p.Raw || p.Format != "yaml" {
		t.Errorf("patch: %v %+v", err, p)
	}
	err = execute(t, e.F, NewCmdPatch(e.F, nil), "a/s f")
	checkErr(t, err, getKeyRule)

	var u *UploadOptions
	err = execute(t, e.F, NewCmdUpload(e.F, func(_ context.Context, o *UploadOptions) error { u = o; return nil }), "a/s -")
	if err != nil || u.Key != "a/s" || u.Source != "-" || u.Format != "" {
		t.Errorf("upload: %v %+v", err, u)
	}
	err = execute(t, e.F, NewCmdUpload(e.F, nil), "a/s")
	checkErr(t, err, `cache upload needs a prefix "<app>/<session>" or a key "<app>/<session>/<object>", and a file (- for stdin)`)
	err = execute(t, e.F, NewCmdUpload(e.F, nil), "a f")
	checkErr(t, err, putKeyRule)

	var d *DownloadOptions
	err = execute(t, e.F, NewCmdDownload(e.F, func(_ context.Context, o *DownloadOptions) error { d = o; return nil }), "a/s/o -")
	if err != nil || d.Key != "a/s/o" || d.Dest != "-" {
		t.Errorf("download: %v %+v", err, d)
	}
	err = execute(t, e.F, NewCmdDownload(e.F, nil), "a/s/o")
	checkErr(t, err, `cache download needs a key "<app>/<session>/<object>" and a destination file (- for stdout)`)
}

func TestNewCmdDelete(t *testing.T) {
	tests := []struct {
		line    string
		tty     bool
		want    DeleteOptions
		wantErr string
	}{
		{"'a/*' --yes", false, DeleteOptions{Pattern: "a/*", Yes: true}, ""},
		{"a/s -y", false, DeleteOptions{Pattern: "a/s", Yes: true}, ""},
		{"a/s/o", true, DeleteOptions{Pattern: "a/s/o"}, ""},
		{"a/s/o", false, DeleteOptions{}, `--yes is required to delete "a/s/o" when not running interactively`},
		{"'a/*/o' --yes", false, DeleteOptions{}, `invalid cache key "a/*/o": the wildcard "<app>/*" cannot have an object component`},
		{"a --yes", false, DeleteOptions{}, `invalid cache key "a": expected "<app>/<session>" or "<app>/*" or "<app>/<session>/<object>"`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, tt.tty)
			var got *DeleteOptions
			err := execute(t, e.F, NewCmdDelete(e.F, func(_ context.Context, o *DeleteOptions) error { got = o; return nil }), tt.line)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if got.Pattern != tt.want.Pattern || got.Yes != tt.want.Yes {
				t.Errorf("options %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestNewCmdList(t *testing.T) {
	tests := []struct {
		line    string
		want    ListOptions
		wantErr string
	}{
		{"", ListOptions{Format: "table"}, ""},
		{"'a/*' --no-headers -o name", ListOptions{Pattern: "a/*", Format: "name", NoHeaders: true}, ""},
		{"a/s/o -o yaml", ListOptions{Pattern: "a/s/o", Format: "yaml"}, ""},
		{"a", ListOptions{}, `invalid cache key "a": expected "<app>/<session>" or "<app>/*" or "<app>/<session>/<object>"`},
		{"a/s b/s", ListOptions{}, `too many arguments for "flmctl list": b/s`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e := newTestEnv(t, false)
			var got *ListOptions
			err := execute(t, e.F, NewCmdList(e.F, func(_ context.Context, o *ListOptions) error { got = o; return nil }), tt.line)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreFields(*got, "IO", "Cache")); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB",
	} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestProgressBar(t *testing.T) {
	now := time.Unix(0, 0)
	var buf bytes.Buffer
	p := newProgressBar(&buf, "Uploading f", 80, func() time.Time { return now })
	p.update(512, 2048) // first update: drawn, no rate yet
	now = now.Add(50 * time.Millisecond)
	p.update(1024, 2048) // too soon: skipped
	now = now.Add(950 * time.Millisecond)
	p.update(1536, 2048)
	now = now.Add(time.Millisecond)
	p.update(2048, 2048) // the end is always drawn
	p.finish()
	want := "\rUploading f  512 B / 2.0 KiB   25%\x1b[K" +
		"\rUploading f  1.5 KiB / 2.0 KiB   75%  1.5 KiB/s\x1b[K" +
		"\rUploading f  2.0 KiB / 2.0 KiB  100%  2.0 KiB/s\x1b[K" +
		"\r\x1b[K"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}

	buf.Reset()
	p = newProgressBar(&buf, "Downloading a/s/o", 20, func() time.Time { return now })
	p.update(10, -1)
	if got := buf.String(); got != "\rDownloading a/s/o  \x1b[K" {
		t.Errorf("narrow terminal, unknown total: %q", got)
	}
	buf.Reset()
	newProgressBar(&buf, "x", 80, nil).finish()
	if buf.Len() != 0 {
		t.Errorf("finish without a draw printed %q", buf.String())
	}
}

func TestRender(t *testing.T) {
	bi, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	tests := []struct {
		name   string
		format string
		v      any
		want   string
	}{
		{"bytes as they are", "", []byte("a\x00b"), "a\x00b"},
		{"str as it is", "", "héllo", "héllo"},
		{"bytes as json", "json", []byte("hi"), "\"aGk=\"\n"},
		{"dict", "", map[any]any{int64(2): []any{true, nil}, "a": int64(1), "b": []byte("hi"), "f": math.NaN()},
			"{\n  \"2\": [\n    true,\n    null\n  ],\n  \"a\": 1,\n  \"b\": \"aGk=\",\n  \"f\": \"NaN\"\n}\n"},
		{"big int and infinities", "", []any{bi, math.Inf(1), math.Inf(-1), 1.5},
			"[\n  123456789012345678901234567890,\n  \"Infinity\",\n  \"-Infinity\",\n  1.5\n]\n"},
		{"yaml", "yaml", map[string]any{"k": []any{"v"}}, "k:\n- v\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render(tt.format, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(b) != "new" || fi.Mode().Perm() != 0o600 {
		t.Errorf("got %q, mode %v", b, fi.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left %d files", len(entries))
	}
	err := writeFileAtomic(filepath.Join(dir, "no", "such"), []byte("x"))
	if err == nil || !strings.HasPrefix(err.Error(), "write "+filepath.Join(dir, "no", "such")+": ") {
		t.Errorf("missing directory: %v", err)
	}
}

// TestCacheRun runs the commands against a real cache, through pipes.
func TestCacheRun(t *testing.T) {
	e := startCluster(t, false)
	ctx := context.Background()
	ios, get := e.F.IOStreams, e.F.Cache

	e.In.WriteString("hello")
	if err := putRun(ctx, &PutOptions{IO: ios, Cache: get, Key: "app/s", Source: "-"}); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSuffix(e.Out.String(), "\n")
	if !regexp.MustCompile(`^app/s/\S+ 1$`).MatchString(line) {
		t.Fatalf("put printed %q", e.Out.String())
	}
	key := strings.Fields(line)[0]

	e.Out.Reset()
	if err := getRun(ctx, &GetOptions{IO: ios, Cache: get, Key: key}); err != nil || e.Out.String() != "hello" {
		t.Fatalf("get: %v %q", err, e.Out.String())
	}

	e.Out.Reset()
	e.In.WriteString(" world")
	if err := patchRun(ctx, &PatchOptions{IO: ios, Cache: get, Key: key, Source: "-", Format: "json"}); err != nil {
		t.Fatal(err)
	}
	wantRef := `"key": "` + key + `",` + "\n" + `  "version": 2`
	if !strings.Contains(e.Out.String(), wantRef) || !strings.Contains(e.Out.String(), `"endpoint": "grpc://127.0.0.1:`) {
		t.Errorf("patch -o json printed %q", e.Out.String())
	}

	e.Out.Reset()
	if err := getRun(ctx, &GetOptions{IO: ios, Cache: get, Key: key, Patches: true, Format: "json"}); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"key\": \"" + key + "\",\n  \"base\": \"aGVsbG8=\",\n  \"patches\": [\n    \"IHdvcmxk\"\n  ]\n}\n"
	if diff := cmp.Diff(want, e.Out.String()); diff != "" {
		t.Errorf("get --patches (-want +got):\n%s", diff)
	}

	err := getRun(ctx, &GetOptions{IO: ios, Cache: get, Key: key, Version: 1})
	if err == nil || err.Error() != "object "+key+" is at version 2, not 1 (the cache keeps only the latest version)" {
		t.Errorf("get --version 1: %v", err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := getRun(ctx, &GetOptions{IO: ios, Cache: get, Key: key, Version: 2, File: out}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != "hello" {
		t.Errorf("get -f wrote %q", b)
	}

	// A Python dict, as flamepy stores it, prints as JSON.
	dict, _ := hex.DecodeString("80049529000000000000007d94288c0161944b014b025d9428884e658c01629443026869948c016694477ff8000000000000752e")
	e.In.Write(append([]byte("FLM\x00"), dict...))
	e.Out.Reset()
	if err := putRun(ctx, &PutOptions{IO: ios, Cache: get, Key: "app/s/dict", Source: "-", Raw: true, Format: "name"}); err != nil || e.Out.String() != "app/s/dict\n" {
		t.Fatalf("put -o name: %v %q", err, e.Out.String())
	}
	e.Out.Reset()
	if err := getRun(ctx, &GetOptions{IO: ios, Cache: get, Key: "app/s/dict"}); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"2\": [\n    true,\n    null\n  ],\n  \"a\": 1,\n  \"b\": \"aGk=\",\n  \"f\": \"NaN\"\n}\n"; e.Out.String() != want {
		t.Errorf("get of a dict printed %q", e.Out.String())
	}

	err = getRun(ctx, &GetOptions{IO: ios, Cache: get, Key: "app/s/missing"})
	if !errors.Is(err, client.ErrNotFound) {
		t.Errorf("get of a missing key: %v", err)
	}

	e.Out.Reset()
	if err := listRun(ctx, &ListOptions{IO: ios, Cache: get, Pattern: "app/s", Format: "table"}); err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSuffix(e.Out.String(), "\n"), "\n")
	if len(rows) != 3 || !regexp.MustCompile(`^KEY +VERSION +SIZE$`).MatchString(rows[0]) ||
		!regexp.MustCompile(`(?m)^app/s/dict +1 +\d+$`).MatchString(e.Out.String()) ||
		!regexp.MustCompile(`(?m)^`+key+` +2 +\d+$`).MatchString(e.Out.String()) {
		t.Errorf("list printed %q", e.Out.String())
	}
	if err := listRun(ctx, &ListOptions{IO: ios, Cache: get, Pattern: "other/*", Format: "table"}); !isNoResults(err) {
		t.Errorf("empty list: %v", err)
	}

	e.ErrOut.Reset()
	if err := deleteRun(ctx, &DeleteOptions{IO: ios, Cache: get, Pattern: "app/*", Yes: true}); err != nil {
		t.Fatal(err)
	}
	if e.ErrOut.String() != "Deleted every cache object of application \"app\".\n" {
		t.Errorf("delete printed %q", e.ErrOut.String())
	}
	if err := getRun(ctx, &GetOptions{IO: ios, Cache: get, Key: key}); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("get after delete: %v", err)
	}
}

// TestCacheRun_TTY checks what changes on a terminal: human sizes, progress
// bars, the delete prompt.
func TestCacheRun_TTY(t *testing.T) {
	e := startCluster(t, true)
	ctx := context.Background()
	ios, get := e.F.IOStreams, e.F.Cache
	src := filepath.Join(t.TempDir(), "src")
	data := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB: three chunks
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := uploadRun(ctx, &UploadOptions{IO: ios, Cache: get, Key: "app/s/big", Source: src}); err != nil {
		t.Fatal(err)
	}
	if e.Out.String() != "app/s/big 1\n" {
		t.Errorf("upload printed %q", e.Out.String())
	}
	progress := e.ErrOut.String()
	if !strings.HasPrefix(progress, "\rUploading "+src+"  1.0 MiB / 3.0 MiB   33%") || !strings.Contains(progress, "3.0 MiB / 3.0 MiB  100%") ||
		!strings.HasSuffix(progress, "\r\x1b[K") {
		t.Errorf("upload progress %q", progress)
	}

	e.ErrOut.Reset()
	dest := filepath.Join(t.TempDir(), "dest")
	if err := downloadRun(ctx, &DownloadOptions{IO: ios, Cache: get, Key: "app/s/big", Dest: dest}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dest); !bytes.Equal(b, data) {
		t.Errorf("downloaded %d bytes, want %d", len(b), len(data))
	}
	if progress := e.ErrOut.String(); !strings.Contains(progress, "3.0 MiB / 3.0 MiB  100%") || !strings.HasSuffix(progress, "\r\x1b[K") {
		t.Errorf("download progress %q", progress)
	}

	e.Out.Reset()
	if err := listRun(ctx, &ListOptions{IO: ios, Cache: get, Format: "table", NoHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^app/s/big +1 +3\.0 MiB\n$`).MatchString(e.Out.String()) {
		t.Errorf("list on a terminal printed %q", e.Out.String())
	}

	e.ErrOut.Reset()
	e.In.WriteString("n\n")
	if err := deleteRun(ctx, &DeleteOptions{IO: ios, Cache: get, Pattern: "app/s"}); !errors.Is(err, cmdutil.ErrCancel) {
		t.Errorf("delete answered no: %v", err)
	}
	if e.ErrOut.String() != "Delete every cache object under \"app/s\"? [y/N]: " {
		t.Errorf("prompt %q", e.ErrOut.String())
	}
	e.ErrOut.Reset()
	e.In.WriteString("y\n")
	if err := deleteRun(ctx, &DeleteOptions{IO: ios, Cache: get, Pattern: "app/s/big"}); err != nil {
		t.Fatal(err)
	}
	if e.ErrOut.String() != "Delete cache object \"app/s/big\"? [y/N]: Deleted cache object \"app/s/big\".\n" {
		t.Errorf("delete printed %q", e.ErrOut.String())
	}
}

func TestCacheRun_Unreachable(t *testing.T) {
	e := newTestEnv(t, false)
	cfg := filepath.Join(t.TempDir(), "flame.yaml")
	if err := os.WriteFile(cfg, []byte("current-context: x\ncontexts:\n  - name: x\n    cluster:\n      endpoint: http://127.0.0.1:1\n    cache:\n      endpoint: grpc://127.0.0.1:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.F.Globals.ConfigFile = cfg
	t.Cleanup(func() { _ = e.F.Close() })
	err := listRun(context.Background(), &ListOptions{IO: e.F.IOStreams, Cache: e.F.Cache, Format: "table"})
	if !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), "grpc://127.0.0.1:1") ||
		!strings.Contains(err.Error(), "flmctl cluster start") || !strings.Contains(err.Error(), "FLAME_CACHE_ENDPOINT") {
		t.Errorf("got %v", err)
	}
}
