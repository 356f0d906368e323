package objectcache

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/flmctl/flmctl/pkg/cache"
)

// Store-level tests of the races and failures a review found; each failed
// before its fix.

func memUpload(data []byte) *upload {
	return &upload{kind: kindOpaque, chunks: [][]byte{data}, size: int64(len(data))}
}

func spilledUpload(t *testing.T, s *Store, k cache.ObjectKey, data []byte) *upload {
	t.Helper()
	f, err := createBlob(s.staging(), kindOpaque, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.chunk(data); err != nil {
		t.Fatal(err)
	}
	return &upload{kind: kindOpaque, size: int64(len(data)), file: f}
}

func readBack(s *Store, b *blob) ([]byte, error) {
	var out []byte
	err := s.each(b, func(c []byte, _ bool) error { out = append(out, c...); return nil })
	return out, err
}

func quietStore(dir string, maxMemory, spill int64) *Store {
	return newStore(dir, maxMemory, spill, slog.New(slog.DiscardHandler))
}

// A delete racing a spilled put never leaves a file of a deleted object
// (which a restart would bring back).
func TestDeleteRacingSpilledPut(t *testing.T) {
	s := quietStore(t.TempDir(), 1<<20, 16)
	defer s.Close()
	k := cache.ObjectKey{App: "a", Session: "s", Object: "x"}
	for range 300 {
		u := spilledUpload(t, s, k, []byte("0123456789abcdefghijklmnopqrstuvwxyz"))
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = s.Put(k, u) })
		wg.Go(func() { _ = s.Delete(k) })
		wg.Wait()
		s.Flush()
		_, err := s.Get(k)
		_, ferr := os.Stat(s.basePath(k))
		if (err == nil) != (ferr == nil) {
			t.Fatalf("in memory: %v; on disk: %v", err, ferr)
		}
	}
}

// A reader whose snapshot was replaced under it is told so (and DoGet
// starts over) instead of being sent the new version's bytes.
func TestReadOfReplacedVersion(t *testing.T) {
	s := quietStore(t.TempDir(), 1<<20, 4)
	defer s.Close()
	k := cache.ObjectKey{App: "a", Session: "s", Object: "x"}
	if _, err := s.Put(k, spilledUpload(t, s, k, []byte("version-one"))); err != nil {
		t.Fatal(err)
	}
	sn, err := s.Get(k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(k, spilledUpload(t, s, k, []byte("version-TWO"))); err != nil {
		t.Fatal(err)
	}
	if got, err := readBack(s, sn.base); !errors.Is(err, errStale) {
		t.Fatalf("reading version %d after it was replaced: %q, %v; want errStale", sn.version(), got, err)
	}
}

// A write that fails (here: the directory cannot be made) leaves the object
// in memory only, evictable, instead of pinned over the budget forever.
func TestFailedWriteIsNotPinned(t *testing.T) {
	dir := t.TempDir()
	// A file where the session directory should be.
	if err := os.MkdirAll(filepath.Join(dir, "a"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "s"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := quietStore(dir, 1000, 800)
	defer s.Close()
	for _, id := range []string{"x", "y", "z"} {
		if _, err := s.Put(cache.ObjectKey{App: "a", Session: "s", Object: id}, memUpload(bytes.Repeat([]byte("d"), 700))); err != nil {
			t.Fatal(err)
		}
		s.Flush()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resident > 1000 {
		t.Fatalf("%d bytes resident over a budget of 1000", s.resident)
	}
}

// Object ids that look like temporary files survive a restart.
func TestTmpLookingIDSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := quietStore(dir, 1<<20, 1<<10)
	k, err := cache.ParseKey("a/s/.tmp-results")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(k, memUpload([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := quietStore(dir, 1<<20, 1<<10)
	defer s2.Close()
	if err := s2.load(); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Get(k); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

// A prefix delete does not break an upload to that prefix that starts
// while the delete is still on its way to the disk.
func TestPrefixDeleteSparesLaterUpload(t *testing.T) {
	dir := t.TempDir()
	s := quietStore(dir, 1<<20, 4)
	defer s.Close()
	x := cache.ObjectKey{App: "a", Session: "s", Object: "x"}
	y := cache.ObjectKey{App: "a", Session: "s", Object: "y"}
	if _, err := s.Put(x, memUpload([]byte("warm"))); err != nil {
		t.Fatal(err)
	}
	s.Flush()
	// Hold the store so the delete's disk work waits behind the upload.
	s.mu.Lock()
	s.flush.push(diskOp{write: s.prefixes["a/s"]["x"].base})
	s.mu.Unlock()
	if err := s.Delete(x.Prefix()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(y, spilledUpload(t, s, y, []byte("a big file"))); err != nil {
		t.Fatalf("upload after the delete: %v", err)
	}
	s.Flush()
	sn, err := s.Get(y)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readBack(s, sn.base); err != nil || string(got) != "a big file" {
		t.Fatalf("read back %q, %v", got, err)
	}
	if _, err := os.Stat(s.basePath(x)); !os.IsNotExist(err) {
		t.Fatalf("the deleted object's file: %v", err)
	}
}
