package objectcache

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flmctl/flmctl/pkg/cache"
)

func wantObject(t *testing.T, ts *testServer, key, base string, version uint64, patches ...string) {
	t.Helper()
	b, bv, ps := ts.get(t, key+":0").object(t)
	if b != base || bv != version {
		t.Fatalf("%s: base %d bytes at version %d, want %d bytes at %d", key, len(b), bv, len(base), version)
	}
	if len(ps) != len(patches) {
		t.Fatalf("%s: %d patches, want %d", key, len(ps), len(patches))
	}
	for i, p := range ps {
		if p.data != patches[i] || p.version != version+uint64(i)+1 {
			t.Fatalf("%s: patch %d = %+v, want %q at %d", key, i, p, patches[i], version+uint64(i)+1)
		}
	}
}

func TestEviction_WithDirReadsBack(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, Options{Dir: dir, MaxMemory: 1000})
	a, b := string(repeat("a", 600)), string(repeat("b", 600))
	ts.put(t, pathDesc("app/ssn/a"), []byte(a))
	ts.patch(t, "app/ssn/a", []byte("pa"))
	// Blobs are pinned in memory until they are on disk.
	ts.flush()
	if !ts.resident(t, "app/ssn/a") {
		t.Fatal("a fresh object is not in memory")
	}
	ts.put(t, pathDesc("app/ssn/b"), []byte(b))
	ts.flush()
	if ts.resident(t, "app/ssn/a") || !ts.resident(t, "app/ssn/b") {
		t.Fatal("putting b did not push the least recently used a out of memory")
	}
	// Metadata stays: the object is listed and patchable while evicted.
	if infos := ts.c.store.List(nil); len(infos) != 2 || infos[0].Version != 2 || infos[0].Size != 602 {
		t.Fatalf("list while evicted: %+v", infos)
	}
	wantObject(t, ts, "app/ssn/a", a, 1, "pa")
	if !ts.resident(t, "app/ssn/a") || ts.resident(t, "app/ssn/b") {
		t.Fatal("reading a did not bring it back (and push b out)")
	}
	wantObject(t, ts, "app/ssn/a", a, 1, "pa")
	ts.patch(t, "app/ssn/b", []byte("pb"))
	ts.flush()
	wantObject(t, ts, "app/ssn/b", b, 1, "pb")
	// A not-modified read also counts as a use.
	ts.get(t, "app/ssn/a:2")
	ts.put(t, pathDesc("app/ssn/c"), []byte("c"))
	ts.flush()
	if ts.c.store.resident > 1000 {
		t.Fatalf("%d bytes resident over a budget of 1000", ts.c.store.resident)
	}
}

func TestEviction_MemoryOnlyDropsObject(t *testing.T) {
	ts := start(t, Options{MaxMemory: 1000})
	a, b := string(repeat("a", 600)), string(repeat("b", 600))
	ts.put(t, pathDesc("app/ssn/a"), []byte(a))
	ts.put(t, pathDesc("app/ssn/b"), []byte(b))
	_, err := ts.doGet(t, "app/ssn/a:0")
	wantStatus(t, err, codes.NotFound, "app/ssn/a")
	wantObject(t, ts, "app/ssn/b", b, 1)
	_, err = ts.doPut(t, cmdDesc("PATCH:app/ssn/a"), cache.UploadSchema(), opaque([]byte("p")))
	wantStatus(t, err, codes.NotFound, "object app/ssn/a not found for patch")
	// The key continues after its last version: a client holding version 1
	// of the evicted object must not be told "not modified".
	if ref := ts.put(t, pathDesc("app/ssn/a"), []byte("x")); ref.Version != 2 {
		t.Fatalf("version %d after eviction, want 2", ref.Version)
	}
	// Without storage an object over the whole budget cannot be kept.
	_, err = ts.doPut(t, pathDesc("app/ssn/huge"), cache.UploadSchema(), opaque(repeat("h", 1001)))
	wantStatus(t, err, codes.ResourceExhausted, "")
	if _, err := ts.doGet(t, "app/ssn/huge"); err == nil {
		t.Fatal("a rejected upload was stored")
	}
}

func TestSpill_LargeUploadNeverResident(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, Options{Dir: dir, MaxMemory: 1 << 20, Spill: 100, Compress: true})
	rows := [][]byte{repeat("0123456789", 7), repeat("abcdefghij", 7), repeat("z", 1), {}, repeat("Q", 99)}
	ref := ts.put(t, pathDesc("app/ssn"), rows...)
	want := string(bytes.Join(rows, nil))
	if ts.resident(t, ref.Key) || ts.c.store.resident != 0 {
		t.Fatal("an upload over the spill threshold is in memory")
	}
	wantObject(t, ts, ref.Key, want, 1)
	if ts.resident(t, ref.Key) || ts.c.store.resident != 0 {
		t.Fatal("reading a spilled object brought it into memory")
	}
	// A large patch spills too, a small one stays in memory.
	ts.patch(t, ref.Key, repeat("p", 60), repeat("q", 60))
	ts.patch(t, ref.Key, []byte("small"))
	wantObject(t, ts, ref.Key, want, 1, string(repeat("p", 60))+string(repeat("q", 60)), "small")
	if ts.c.store.resident != 5 {
		t.Fatalf("%d bytes resident, want only the small patch", ts.c.store.resident)
	}
	if tmp := tmpFiles(t, dir); len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
	// Also after a restart.
	ts.stop()
	ts = start(t, Options{Dir: dir, Spill: 100})
	wantObject(t, ts, ref.Key, want, 1, string(repeat("p", 60))+string(repeat("q", 60)), "small")
}

func tmpFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tmpPrefix) {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRestart_RestoresAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, Options{Dir: dir})
	ts.put(t, pathDesc("app/s1/a"), []byte("A1"))
	ts.patch(t, "app/s1/a", []byte("a2"))
	ts.patch(t, "app/s1/a", []byte("a3"))
	ts.put(t, pathDesc("app/s1/b"), []byte("B1"))
	ts.patch(t, "app/s1/b", []byte("b2"))
	bk := mustParse(t, "app/s1/b")
	ts.flush()
	stalePatch, err := os.ReadFile(ts.c.store.patchPath(bk, 2))
	if err != nil {
		t.Fatal(err)
	}
	ts.put(t, pathDesc("app/s1/b"), []byte("B3"))
	c := ts.put(t, pathDesc("other/s2"), []byte("C1"))
	ts.stop()

	// What an interrupted run leaves behind: a patch that a later put
	// replaced, and half-written temporary files.
	if err := os.WriteFile(ts.c.store.patchPath(bk, 2), stalePatch, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "app", "s1", tmpPrefix+"123"), filepath.Join(dir, "other", "s2", tmpPrefix+"x")} {
		if err := os.WriteFile(p, []byte("FLMCACHE partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	ts = start(t, Options{Dir: dir})
	if tmp := tmpFiles(t, dir); len(tmp) != 0 {
		t.Fatalf("temporary files kept: %v", tmp)
	}
	if _, err := os.Stat(ts.c.store.patchPath(bk, 2)); !os.IsNotExist(err) {
		t.Fatalf("a patch older than its base was kept (%v)", err)
	}
	wantObject(t, ts, "app/s1/a", "A1", 1, "a2", "a3")
	wantObject(t, ts, "app/s1/b", "B3", 3)
	wantObject(t, ts, c.Key, "C1", 1)
	if dl := ts.get(t, "app/s1/a:1"); fmt.Sprint(dl.rows) != fmt.Sprint([]gotRow{{2, "patch", "a2"}, {3, "patch", "a3"}}) {
		t.Fatalf("patches only after restart: %v", dl.rows)
	}
	if dl := ts.get(t, "app/s1/a:3"); dl.batches != 0 {
		t.Fatalf("not modified after restart: %v", dl.rows)
	}
	// Versions continue from where they were.
	if ref := ts.patch(t, "app/s1/a", []byte("a4")); ref.Version != 4 {
		t.Fatalf("patch after restart: version %d", ref.Version)
	}
	if ref := ts.put(t, pathDesc("app/s1/b"), []byte("B4")); ref.Version != 4 {
		t.Fatalf("put after restart: version %d", ref.Version)
	}
	if infos := ts.c.store.List(nil); len(infos) != 3 || infos[0].Patches != 3 {
		t.Fatalf("list after restart: %+v", infos)
	}
}

// blobFile returns the path of key's base file.
func (ts *testServer) blobFile(t *testing.T, key string) string {
	t.Helper()
	return ts.c.store.basePath(mustParse(t, key))
}

func TestDamage(t *testing.T) {
	chunks := [][]byte{repeat("first-", 10), repeat("second", 10), repeat("third-", 10)}
	// Offsets in the file: header, then per chunk 8 bytes + data.
	chunkData := func(i int) int64 {
		off := int64(headerSize)
		for j := 0; j < i; j++ {
			off += 8 + int64(len(chunks[j]))
		}
		return off + 8
	}
	cases := []struct {
		name    string
		damage  func(t *testing.T, path string)
		restart bool
		sent    int // chunks a client receives before the error
	}{
		{"flipped byte in chunk 2, live", flip(chunkData(1) + 5), false, 1},
		{"flipped byte in chunk 2, restart", flip(chunkData(1) + 5), true, 1},
		{"flipped byte in chunk 1", flip(chunkData(0)), false, 0},
		{"flipped chunk checksum", flip(chunkData(2) - 1), false, 2},
		{"flipped chunk length", flip(chunkData(2) - 8), false, 2},
		{"truncated in chunk 3, live", truncate(chunkData(2) + 3), false, 2},
		{"truncated in chunk 3, restart", truncate(chunkData(2) + 3), true, 0},
		{"trailer cut off, restart", truncate(chunkData(3) - 8), true, 0},
		{"bad trailer checksum, restart", flipFromEnd(1), true, 0},
		{"bad trailer size, restart", flipFromEnd(20), true, 0},
		{"bad header, restart", flip(2), true, 0},
		{"empty file, restart", truncate(0), true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// MaxMemory 1 keeps nothing resident, so reads go to disk.
			ts := start(t, Options{Dir: dir, MaxMemory: 1, Spill: 1})
			ref := ts.put(t, pathDesc("app/ssn/obj"), chunks...)
			ts.put(t, pathDesc("app/ssn/ok"), []byte("fine"))
			wantObject(t, ts, ref.Key, string(bytes.Join(chunks, nil)), 1)
			tc.damage(t, ts.blobFile(t, ref.Key))
			if tc.restart {
				ts.stop()
				ts = start(t, Options{Dir: dir, MaxMemory: 1, Spill: 1})
			}
			for range 2 {
				dl, err := ts.doGet(t, ref.Key+":0")
				wantStatus(t, err, codes.DataLoss, "app/ssn/obj")
				if len(dl.rows) != tc.sent {
					t.Fatalf("%d rows sent before the error, want %d", len(dl.rows), tc.sent)
				}
				for i, r := range dl.rows {
					if r.data != string(chunks[i]) {
						t.Fatalf("row %d = %q, want %q", i, r.data, chunks[i])
					}
				}
			}
			// Other objects are unaffected, and a put repairs the key.
			wantObject(t, ts, "app/ssn/ok", "fine", 1)
			after := ts.put(t, pathDesc(ref.Key), []byte("repaired"))
			wantObject(t, ts, ref.Key, "repaired", uint64(after.Version))
		})
	}
}

func flip(off int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[off] ^= 0x40
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func flipFromEnd(n int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		flip(fi.Size()-n)(t, path)
	}
}

func truncate(size int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDamage_PatchFile(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, Options{Dir: dir})
	ts.put(t, pathDesc("app/ssn/obj"), []byte("base"))
	ts.patch(t, "app/ssn/obj", []byte("p2"))
	ts.patch(t, "app/ssn/obj", []byte("p3"))
	k := mustParse(t, "app/ssn/obj")
	ts.stop()
	flip(headerSize+8)(t, ts.c.store.patchPath(k, 2))
	// A patch file whose trailer names another version than its name.
	p3 := ts.c.store.patchPath(k, 3)
	b, err := os.ReadFile(p3)
	if err != nil {
		t.Fatal(err)
	}
	tr := b[len(b)-trailerSize:]
	binary.LittleEndian.PutUint64(tr[16:], 7)
	binary.LittleEndian.PutUint32(tr[24:], crc32.Checksum(tr[:24], castagnoli))
	if err := os.WriteFile(p3, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ts = start(t, Options{Dir: dir})
	dl, err := ts.doGet(t, "app/ssn/obj:0")
	wantStatus(t, err, codes.DataLoss, "version 2")
	if len(dl.rows) != 1 || dl.rows[0].kind != cache.KindBase {
		t.Fatalf("rows before the error: %v", dl.rows)
	}
	_, err = ts.doGet(t, "app/ssn/obj:2")
	wantStatus(t, err, codes.DataLoss, "version 3")
	if dl := ts.get(t, "app/ssn/obj:3"); dl.batches != 0 {
		t.Fatalf("not modified: %v", dl.rows)
	}
}

func TestMaxPatches(t *testing.T) {
	ts := start(t, Options{Dir: t.TempDir()})
	const key = "app/ssn/obj"
	ts.put(t, pathDesc(key), []byte("b"))
	for i := range MaxPatches {
		if ref := ts.patch(t, key, []byte{byte(i)}); ref.Version != int64(i+2) {
			t.Fatalf("patch %d: version %d", i, ref.Version)
		}
	}
	_, err := ts.doPut(t, cmdDesc("PATCH:"+key), cache.UploadSchema(), opaque([]byte("one too many")))
	wantStatus(t, err, codes.InvalidArgument, "patches")
	if infos := ts.c.store.List(nil); infos[0].Patches != MaxPatches || infos[0].Version != MaxPatches+1 {
		t.Fatalf("after the refused patch: %+v", infos[0])
	}
	dl := ts.get(t, key+":0")
	if len(dl.rows) != MaxPatches+1 || dl.rows[MaxPatches].version != MaxPatches+1 {
		t.Fatalf("%d rows", len(dl.rows))
	}
	// A put starts again.
	ref := ts.put(t, pathDesc(key), []byte("merged"))
	if ref2 := ts.patch(t, key, []byte("p")); ref2.Version != ref.Version+1 {
		t.Fatalf("patch after put: %d", ref2.Version)
	}
}

// The body of a ZSTD download is compressed, and a plain Flight reader
// still reads it.
func TestCompress(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprint(compress), func(t *testing.T) {
			ts := start(t, Options{Compress: compress, Dir: t.TempDir()})
			payload := repeat("\x00", 1<<20)
			ref := ts.put(t, pathDesc("app/ssn"), payload)
			ts.patch(t, ref.Key, repeat("p", 4096))
			wantObject(t, ts, ref.Key, string(payload), 1, string(repeat("p", 4096)))

			stream, err := ts.client.DoGet(ctxT(t), &flight.Ticket{Ticket: []byte(ref.Key)})
			if err != nil {
				t.Fatal(err)
			}
			var body int
			for {
				fd, err := stream.Recv()
				if err != nil {
					break
				}
				body += len(fd.DataBody)
			}
			if compressed := body < 1<<19; compressed != compress {
				t.Fatalf("compress=%v but the bodies are %d bytes for 1 MiB of zeros", compress, body)
			}
		})
	}
}

// Writers, readers and deletes racing on a few keys with a tight memory
// budget: every read sees a consistent object, and what the last writer
// left is what a restart finds.
func TestConcurrentWritersReadersEviction(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, Options{Dir: dir, MaxMemory: 4096, Spill: 1500})
	keys := []string{"app/s1/a", "app/s1/b", "app/s2/c"}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				key := keys[(w+i)%len(keys)]
				var err error
				switch i % 5 {
				case 0, 3:
					_, err = ts.doPut(t, pathDesc(key), cache.UploadSchema(), opaque(repeat(fmt.Sprint(w), 200*(i%9+1))))
				case 1, 4:
					_, err = ts.doPut(t, cmdDesc("PATCH:"+key), cache.UploadSchema(), opaque([]byte(fmt.Sprint(i))))
				case 2:
					var dl download
					dl, err = ts.doGet(t, key+":0")
					if err == nil && len(dl.rows) > 0 {
						// Rows of one download all belong to one state.
						if dl.rows[0].kind != cache.KindBase {
							err = fmt.Errorf("%s: first row %+v", key, dl.rows[0])
						}
						for j := 1; j < len(dl.rows); j++ {
							if dl.rows[j].version < dl.rows[j-1].version {
								err = fmt.Errorf("%s: versions go back: %v", key, dl.rows)
							}
						}
					}
				}
				// A read that meets a replacement after it sent rows ends
				// with ABORTED (read it again), as the protocol allows.
				if s, _ := status.FromError(err); err != nil && s.Code() != codes.NotFound && s.Code() != codes.Aborted {
					errs <- err
					return
				}
			}
			if w == 0 {
				if _, err := ts.doAction(t, "DELETE", "app/s2"); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	before := map[string]download{}
	for _, k := range keys {
		if dl, err := ts.doGet(t, k); err == nil {
			before[k] = dl
		}
	}
	ts.stop()
	ts = start(t, Options{Dir: dir})
	for _, k := range keys {
		dl, err := ts.doGet(t, k)
		want, ok := before[k]
		if (err == nil) != ok {
			t.Fatalf("%s: before restart present=%v, after: %v", k, ok, err)
		}
		if ok && fmt.Sprint(dl.rows) != fmt.Sprint(want.rows) {
			t.Fatalf("%s: after restart %v, before %v", k, dl.rows, want.rows)
		}
	}
}

// MaxObjects bounds the objects held in memory: the least recently used go
// to disk (and come back from it), or, without a directory, are gone.
func TestEviction_MaxObjects(t *testing.T) {
	ts := start(t, Options{Dir: t.TempDir(), MaxObjects: 2})
	for _, k := range []string{"a", "b", "c"} {
		ts.put(t, pathDesc("app/ssn/"+k), []byte(k))
	}
	ts.c.store.Flush()
	ts.c.store.mu.Lock()
	resident := ts.c.store.lru.Len()
	ts.c.store.mu.Unlock()
	if resident != 2 {
		t.Fatalf("%d objects in memory, want 2", resident)
	}
	for _, k := range []string{"a", "b", "c"} {
		wantObject(t, ts, "app/ssn/"+k, k, 1)
	}

	mem := start(t, Options{MaxObjects: 2})
	for _, k := range []string{"a", "b", "c"} {
		mem.put(t, pathDesc("app/ssn/"+k), []byte(k))
	}
	_, err := mem.doGet(t, "app/ssn/a:0")
	wantStatus(t, err, codes.NotFound, "app/ssn/a")
	wantObject(t, mem, "app/ssn/c", "c", 1)
}
