package cache_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flmctl/flmctl/pkg/cache"
	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/local"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startCluster starts a real embedded cluster (object cache included) and
// returns a cache client for it.
func startCluster(t *testing.T, opts local.Options) (*local.Cluster, *cache.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := local.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	cc := newClient(t, c.Endpoints().Cache)
	return c, cc
}

func newClient(t *testing.T, endpoint string) *cache.Client {
	t.Helper()
	cc, err := cache.New(cache.Options{Endpoint: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, err error, code client.ErrorCode, substr string) {
	t.Helper()
	var fe *client.FlameError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a FlameError", err, err)
	}
	if fe.Code != code || !strings.Contains(fe.Message, substr) {
		t.Fatalf("error = %v [%v], want code %v containing %q", fe.Message, fe.Code, code, substr)
	}
}

func TestPutGetUpdatePatch(t *testing.T) {
	c, cc := startCluster(t, local.Options{})
	ctx := ctxT(t)

	ref, err := cc.Put(ctx, "app/ssn", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := cache.ParseKey(ref.Key)
	if err != nil || k.App != "app" || k.Session != "ssn" || len(k.Object) != 36 {
		t.Fatalf("put to a prefix made key %q (%v), want app/ssn/<uuid>", ref.Key, err)
	}
	if ref.Version != 1 || ref.Endpoint != c.Endpoints().Cache {
		t.Fatalf("ref = %+v, want version 1 on %s", ref, c.Endpoints().Cache)
	}
	got, err := cc.Get(ctx, ref)
	if err != nil || string(got) != "hello" {
		t.Fatalf("Get = %q, %v", got, err)
	}

	ref2, err := cc.Update(ctx, ref, []byte("world"))
	if err != nil || ref2.Version != 2 || ref2.Key != ref.Key {
		t.Fatalf("Update = %+v, %v; want version 2 of the same key", ref2, err)
	}
	if got, err := cc.Get(ctx, ref2); err != nil || string(got) != "world" {
		t.Fatalf("Get after update = %q, %v", got, err)
	}

	ref3, err := cc.Patch(ctx, ref2, []byte("+1"))
	if err != nil || ref3.Version != 3 {
		t.Fatalf("Patch = %+v, %v", ref3, err)
	}
	ref4, err := cc.Patch(ctx, ref3, []byte("+2"))
	if err != nil || ref4.Version != 4 {
		t.Fatalf("Patch = %+v, %v", ref4, err)
	}
	base, patches, err := cc.GetParts(ctx, ref4)
	if err != nil || string(base) != "world" || fmt.Sprint(strs(patches)) != "[+1 +2]" {
		t.Fatalf("GetParts = %q %q %v", base, patches, err)
	}
	if got, err := cc.Get(ctx, ref4); err != nil || string(got) != "world" {
		t.Fatalf("Get returns the base only: %q, %v", got, err)
	}

	// A put to the full key replaces the object and drops its patches.
	ref5, err := cc.Put(ctx, ref.Key, []byte("fresh"))
	if err != nil || ref5.Version != 5 {
		t.Fatalf("Put to a full key = %+v, %v; want version 5", ref5, err)
	}
	base, patches, err = cc.GetParts(ctx, ref5)
	if err != nil || string(base) != "fresh" || len(patches) != 0 {
		t.Fatalf("GetParts after put = %q %q %v", base, patches, err)
	}

	// Raw bytes round-trip too, and empty objects are objects.
	raw, err := cc.Put(ctx, "app/ssn/raw", []byte{0, 1, 2}, cache.Raw())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cc.Get(ctx, raw); err != nil || !bytes.Equal(got, []byte{0, 1, 2}) {
		t.Fatalf("Get raw = %v, %v", got, err)
	}
	empty, err := cc.Put(ctx, "app/ssn", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cc.Get(ctx, empty); err != nil || len(got) != 0 {
		t.Fatalf("Get empty = %q, %v", got, err)
	}
}

func strs(bs [][]byte) []string {
	var out []string
	for _, b := range bs {
		out = append(out, string(b))
	}
	return out
}

// A client that holds a version asks only for the newer patches; version 0
// forces a full download.
func TestIncrementalGet(t *testing.T) {
	c, reader := startCluster(t, local.Options{})
	writer := newClient(t, c.Endpoints().Cache)
	ctx := ctxT(t)
	var tickets []string
	cache.SetTicketHook(func(tk string) { tickets = append(tickets, tk) })
	t.Cleanup(func() { cache.SetTicketHook(nil) })

	ref, err := writer.Put(ctx, "app/ssn/obj", []byte("base"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := reader.GetParts(ctx, ref); err != nil {
		t.Fatal(err)
	}
	ref, _ = writer.Patch(ctx, ref, []byte("p2"))
	ref, err = writer.Patch(ctx, ref, []byte("p3"))
	if err != nil {
		t.Fatal(err)
	}
	base, patches, err := reader.GetParts(ctx, ref)
	if err != nil || string(base) != "base" || fmt.Sprint(strs(patches)) != "[p2 p3]" {
		t.Fatalf("GetParts = %q %q %v", base, patches, err)
	}
	// Unchanged: the server sends nothing new, the copy is reused.
	if _, p, err := reader.GetParts(ctx, ref); err != nil || len(p) != 2 {
		t.Fatalf("GetParts again = %q, %v", p, err)
	}
	// Version 0: everything again.
	if _, p, err := reader.GetParts(ctx, cache.ObjectRef{Endpoint: ref.Endpoint, Key: ref.Key}); err != nil || len(p) != 2 {
		t.Fatalf("GetParts at version 0 = %q, %v", p, err)
	}
	want := []string{"app/ssn/obj:0", "app/ssn/obj:1", "app/ssn/obj:3", "app/ssn/obj:0"}
	if fmt.Sprint(tickets) != fmt.Sprint(want) {
		t.Fatalf("tickets = %q, want %q", tickets, want)
	}
}

func TestDelete(t *testing.T) {
	_, cc := startCluster(t, local.Options{})
	ctx := ctxT(t)
	put := func(key string) cache.ObjectRef {
		t.Helper()
		r, err := cc.Put(ctx, key, []byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a1, a2, b1, other := put("app/s1/a"), put("app/s1/b"), put("app/s2/a"), put("other/s1/a")
	exists := func(r cache.ObjectRef) bool {
		_, err := cc.Get(ctx, cache.ObjectRef{Endpoint: r.Endpoint, Key: r.Key})
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	if err := cc.Delete(ctx, "app/s1/a"); err != nil {
		t.Fatal(err)
	}
	if exists(a1) || !exists(a2) {
		t.Fatal("deleting a key removed the wrong objects")
	}
	if err := cc.Delete(ctx, "app/nothing"); err != nil {
		t.Fatalf("deleting nothing: %v", err)
	}
	put("app/s1/c")
	if err := cc.Delete(ctx, "app/s1"); err != nil {
		t.Fatal(err)
	}
	if exists(a2) || !exists(b1) {
		t.Fatal("deleting a prefix removed the wrong objects")
	}
	if err := cc.Delete(ctx, "app/*"); err != nil {
		t.Fatal(err)
	}
	if exists(b1) || !exists(other) {
		t.Fatal("deleting app/* removed the wrong objects")
	}
	list, err := cc.List(ctx, "")
	if err != nil || len(list) != 1 || list[0].Ref.Key != "other/s1/a" || list[0].Ref.Version != 1 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	_, err = cc.Get(ctx, a1)
	wantCode(t, err, client.CodeNotFound, "app/s1/a not found")
}

func TestList(t *testing.T) {
	_, cc := startCluster(t, local.Options{})
	ctx := ctxT(t)
	for _, k := range []string{"a/s/1", "a/s/2", "a/t/1", "b/s/1"} {
		if _, err := cc.Put(ctx, k, []byte("xyz"), cache.Raw()); err != nil {
			t.Fatal(err)
		}
	}
	for pattern, want := range map[string]string{
		"":      "[a/s/1 a/s/2 a/t/1 b/s/1]",
		"a/*":   "[a/s/1 a/s/2 a/t/1]",
		"a/s":   "[a/s/1 a/s/2]",
		"a/s/2": "[a/s/2]",
	} {
		list, err := cc.List(ctx, pattern)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range list {
			keys = append(keys, o.Ref.Key)
			if o.Size != 3 {
				t.Errorf("%s: size %d, want 3", o.Ref.Key, o.Size)
			}
		}
		sort.Strings(keys)
		if fmt.Sprint(keys) != want {
			t.Errorf("List(%q) = %v, want %v", pattern, keys, want)
		}
	}
}

func TestUploadDownload(t *testing.T) {
	_, cc := startCluster(t, local.Options{CacheMaxMemory: 4 << 20})
	ctx := ctxT(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	data := make([]byte, 5<<20+123)
	_, _ = rand.Read(data)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var last, calls int64
	ref, err := cc.Upload(ctx, "app/pkg", src, cache.WithProgress(func(done, total int64) {
		if done < last || total != int64(len(data)) {
			t.Errorf("progress went %d -> %d of %d", last, done, total)
		}
		last = done
		calls++
	}))
	if err != nil {
		t.Fatal(err)
	}
	if last != int64(len(data)) || calls != 6 {
		t.Fatalf("progress ended at %d after %d calls, want %d after 6", last, calls, len(data))
	}
	dest := filepath.Join(dir, "dest.bin")
	n, err := cc.Download(ctx, ref, dest)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Download = %d, %v", n, err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, data) {
		t.Fatal("downloaded bytes differ from the uploaded file")
	}
	if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("downloaded file mode: %v, %v; want 0644", fi.Mode(), err)
	}

	// A failed download leaves no file behind, not even a partial one.
	bad := filepath.Join(dir, "missing.bin")
	_, err = cc.Download(ctx, cache.ObjectRef{Endpoint: ref.Endpoint, Key: "app/pkg/nope"}, bad)
	wantCode(t, err, client.CodeNotFound, "not found")
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("directory holds %d files after a failed download, want 2", len(entries))
	}
	// An object with patches is not a file.
	p, _ := cc.Put(ctx, "app/pkg/patched", []byte("x"))
	if _, err := cc.Patch(ctx, p, []byte("y")); err != nil {
		t.Fatal(err)
	}
	_, err = cc.DownloadTo(ctx, p, new(bytes.Buffer))
	wantCode(t, err, client.CodeInvalidArgument, "has patches")
}

// Objects written through to disk survive a restart of the cluster, with
// their versions and patches.
func TestRestartKeepsObjects(t *testing.T) {
	dir := t.TempDir()
	c, cc := startCluster(t, local.Options{DataDir: dir})
	ctx := ctxT(t)
	ref, err := cc.Put(ctx, "app/ssn/obj", []byte("base"))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ = cc.Patch(ctx, ref, []byte("p1"))
	other, err := cc.Put(ctx, "app/ssn", bytes.Repeat([]byte("z"), 3<<20))
	if err != nil {
		t.Fatal(err)
	}
	c.Stop()
	_ = cc.Close()

	c2, cc2 := startCluster(t, local.Options{DataDir: dir})
	ref.Endpoint, other.Endpoint = c2.Endpoints().Cache, c2.Endpoints().Cache
	base, patches, err := cc2.GetParts(ctx, ref)
	if err != nil || string(base) != "base" || fmt.Sprint(strs(patches)) != "[p1]" {
		t.Fatalf("after restart: %q %q %v", base, patches, err)
	}
	if got, err := cc2.Get(ctx, other); err != nil || len(got) != 3<<20 {
		t.Fatalf("after restart: %d bytes, %v", len(got), err)
	}
	next, err := cc2.Patch(ctx, ref, []byte("p2"))
	if err != nil || next.Version != 3 {
		t.Fatalf("a patch after restart = %+v, %v; want version 3", next, err)
	}
}

// A file damaged on disk is reported, never served.
func TestDamagedFile(t *testing.T) {
	dir := t.TempDir()
	c, cc := startCluster(t, local.Options{DataDir: dir})
	ctx := ctxT(t)
	flip, err := cc.Put(ctx, "app/ssn/flip", bytes.Repeat([]byte("a"), 1000))
	if err != nil {
		t.Fatal(err)
	}
	torn, err := cc.Put(ctx, "app/ssn/torn", []byte("torn"))
	if err != nil {
		t.Fatal(err)
	}
	c.Stop()
	_ = cc.Close()
	path := filepath.Join(dir, "cache", "app", "ssn", "flip.obj")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	tornPath := filepath.Join(dir, "cache", "app", "ssn", "torn.obj")
	fi, _ := os.Stat(tornPath)
	if err := os.Truncate(tornPath, fi.Size()-3); err != nil {
		t.Fatal(err)
	}

	c2, cc2 := startCluster(t, local.Options{DataDir: dir})
	for _, ref := range []cache.ObjectRef{flip, torn} {
		ref.Endpoint = c2.Endpoints().Cache
		got, err := cc2.Get(ctx, ref)
		if err == nil {
			t.Fatalf("%s: damaged object served: %q", ref.Key, got)
		}
		wantCode(t, err, client.CodeInternal, "damaged on disk")
		// Putting it again repairs it, with a version after the damaged
		// one (the header still says which it was), so that no client
		// holding the old number mistakes the new data for it.
		fixed, err := cc2.Put(ctx, ref.Key, []byte("ok"))
		if err != nil {
			t.Fatal(err)
		}
		if fixed.Version != ref.Version+1 {
			t.Errorf("%s: repaired at version %d, want %d", ref.Key, fixed.Version, ref.Version+1)
		}
		if got, err := cc2.Get(ctx, fixed); err != nil || string(got) != "ok" {
			t.Fatalf("%s after a new put: %q, %v", ref.Key, got, err)
		}
	}
}

// Concurrent patches to one key each get their own version; none is lost.
func TestConcurrentPatches(t *testing.T) {
	_, cc := startCluster(t, local.Options{})
	ctx := ctxT(t)
	ref, err := cc.Put(ctx, "app/ssn/counter", []byte("base"))
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 25
	var mu sync.Mutex
	versions := map[int64]string{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last int64
			for i := range each {
				d := fmt.Sprintf("w%d-%d", w, i)
				r, err := cc.Patch(ctx, ref, []byte(d))
				if err != nil {
					t.Error(err)
					return
				}
				if r.Version <= last {
					t.Errorf("writer %d: version %d after %d", w, r.Version, last)
				}
				last = r.Version
				mu.Lock()
				if prev, dup := versions[r.Version]; dup {
					t.Errorf("version %d given to %s and %s", r.Version, prev, d)
				}
				versions[r.Version] = d
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	base, patches, err := cc.GetParts(ctx, cache.ObjectRef{Endpoint: ref.Endpoint, Key: ref.Key})
	if err != nil || string(base) != "base" || len(patches) != writers*each {
		t.Fatalf("GetParts = %q, %d patches, %v; want %d", base, len(patches), err, writers*each)
	}
	for i, p := range patches {
		if want := versions[int64(i+2)]; string(p) != want {
			t.Fatalf("patch %d = %q, want %q (the patch given version %d)", i, p, want, i+2)
		}
	}
}

// Keys are checked by the client before anything is sent, with the rule
// that was broken.
func TestInvalidKeys(t *testing.T) {
	_, cc := startCluster(t, local.Options{})
	ctx := ctxT(t)
	for key, rule := range map[string]string{
		"app":                               `expected "<app>/<session>" or "<app>/<session>/<object>"`,
		"a/b/c/d":                           `expected "<app>/<session>" or "<app>/<session>/<object>"`,
		"/ssn":                              "application component \"\" is empty",
		"app//obj":                          "session component \"\" is empty",
		"app/../x":                          `must not be "." or contain ".."`,
		"app/./x":                           `must not be "." or contain ".."`,
		`app/s\x/o`:                         `must not contain '\' or ':'`,
		"app/s:1/o":                         `must not contain '\' or ':'`,
		"app/*":                             `only accepted by delete`,
		"app/s*/o":                          `"*" is only allowed as the whole session component`,
		"app/s/o\x01":                       "control characters",
		"app/s/" + strings.Repeat("x", 201): "longer than 200 bytes",
	} {
		_, err := cc.Put(ctx, key, []byte("x"))
		wantCode(t, err, client.CodeInvalidArgument, rule)
	}
	_, err := cc.Get(ctx, cache.ObjectRef{Key: "app/ssn"})
	wantCode(t, err, client.CodeInvalidArgument, `expected "<app>/<session>/<object>"`)
	err = cc.Delete(ctx, "app/*/x")
	wantCode(t, err, client.CodeInvalidArgument, "cannot have an object component")
}

// With compression on, as upstream's server does it, the client still
// reads every kind of answer.
func TestCompressedDownloads(t *testing.T) {
	_, cc := startCluster(t, local.Options{CacheCompress: true})
	ctx := ctxT(t)
	data := bytes.Repeat([]byte("compressible "), 10000)
	ref, err := cc.Put(ctx, "app/ssn/z", data)
	if err != nil {
		t.Fatal(err)
	}
	ref, err = cc.Patch(ctx, ref, []byte("delta"))
	if err != nil {
		t.Fatal(err)
	}
	base, patches, err := cc.GetParts(ctx, ref)
	if err != nil || !bytes.Equal(base, data) || fmt.Sprint(strs(patches)) != "[delta]" {
		t.Fatalf("GetParts = %d bytes, %q, %v", len(base), patches, err)
	}
	var out bytes.Buffer
	if _, err := cc.DownloadTo(ctx, cache.ObjectRef{Endpoint: ref.Endpoint, Key: "app/ssn/none"}, &out); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("download of a missing key: %v", err)
	}
}
