package objectcache

import (
	"errors"
	"os"
	"path/filepath"
	"sync"

	"github.com/flmctl/flmctl/pkg/cache"
)

// flusher writes new blobs to disk behind the puts that made them, in the
// order the store changed, so that a put is acknowledged at memory speed.
// A blob waiting for its write is pinned in memory (the LRU skips it). The
// bytes waiting are bounded: past the limit a put waits for the disk. Close
// writes everything still queued.
//
// The cost of this is a window of a few milliseconds after a put in which a
// crash of the process loses the object; the checksums then find whatever
// half-written file it leaves. The cache is not the system of record.
type flusher struct {
	s     *Store
	limit int64

	mu      sync.Mutex
	cond    *sync.Cond
	ops     []diskOp
	pending int64  // bytes of queued writes
	pushed  uint64 // ops queued so far
	applied uint64 // ops done so far
	closed  bool
	done    chan struct{}
}

// diskOp is one change to the directory.
type diskOp struct {
	write     *blob            // write this blob to its path, if still current
	commit    *blobWriter      // commit this spilled upload to path
	path      string           // for commit
	version   uint64           // for commit
	remove    []string         // remove these files
	removeKey *cache.ObjectKey // remove this key's files
	prune     *cache.ObjectKey // remove the prefix's directories if empty
	result    chan error       // receives the outcome when not nil
}

func newFlusher(s *Store, limit int64) *flusher {
	f := &flusher{s: s, limit: limit, done: make(chan struct{})}
	f.cond = sync.NewCond(&f.mu)
	go f.loop()
	return f
}

// reserve waits until n more bytes may be queued.
func (f *flusher) reserve(n int64) {
	f.mu.Lock()
	for f.pending > 0 && f.pending+n > f.limit && !f.closed {
		f.cond.Wait()
	}
	f.pending += n
	f.mu.Unlock()
}

// push queues op without waiting. Callers hold Store.mu, so the queue order
// is the order of the changes in memory. After close nothing is queued: a
// commit is told so, other changes stay in memory only.
func (f *flusher) push(op diskOp) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		if op.result != nil {
			op.result <- errors.New("the cache is shutting down")
		}
		if op.write != nil {
			f.pending -= op.write.size
		}
		return
	}
	f.ops = append(f.ops, op)
	f.pushed++
	f.cond.Broadcast()
}

// flush waits until everything queued before the call is on disk.
func (f *flusher) flush() {
	f.mu.Lock()
	target := f.pushed
	for f.applied < target && !f.closed {
		f.cond.Wait()
	}
	f.mu.Unlock()
}

// close writes what is queued and stops the writer.
func (f *flusher) close() {
	f.mu.Lock()
	f.closed = true
	f.cond.Broadcast()
	f.mu.Unlock()
	<-f.done
}

func (f *flusher) loop() {
	defer close(f.done)
	for {
		f.mu.Lock()
		for len(f.ops) == 0 && !f.closed {
			f.cond.Wait()
		}
		if len(f.ops) == 0 {
			f.mu.Unlock()
			return
		}
		op := f.ops[0]
		f.ops[0] = diskOp{}
		f.ops = f.ops[1:]
		f.mu.Unlock()

		err := f.run(op)

		f.mu.Lock()
		f.applied++
		if op.write != nil {
			f.pending -= op.write.size
		}
		f.cond.Broadcast()
		f.mu.Unlock()
		if op.result != nil {
			op.result <- err
		}
	}
}

// removeFiles removes the base and patch files of key k.
func (f *flusher) removeFiles(k cache.ObjectKey) error {
	matches, _ := filepath.Glob(filepath.Join(f.s.dir, k.App, k.Session, globEscape(k.Object)+".*"))
	var first error
	for _, m := range matches {
		if id, _, ok := parseFileName(filepath.Base(m)); ok && id == k.Object {
			if err := os.Remove(m); err != nil && !os.IsNotExist(err) && first == nil {
				first = err
				f.s.log.Error("cannot remove a cache file", "path", m, "err", err)
			}
		}
	}
	return first
}

func (f *flusher) run(op diskOp) error {
	s := f.s
	switch {
	case op.write != nil:
		b := op.write
		s.mu.Lock()
		live, chunks := b.currentLocked(), b.chunks
		s.mu.Unlock()
		if !live {
			// Replaced or deleted before it reached the disk.
			s.mu.Lock()
			b.pending = false
			s.mu.Unlock()
			return nil
		}
		err := writeBlob(s.staging(), b.path, b.kind, b.version, chunks)
		s.mu.Lock()
		defer s.mu.Unlock()
		b.pending = false
		if err != nil {
			// The object lives on in memory only, like in a cache without
			// a directory: evicting it loses it. Its older files go, so
			// that a restart does not bring back an outdated version.
			s.log.Error("cannot write a cache object to disk; it is kept in memory only", "key", b.obj.key.String(), "err", err)
			o := b.obj
			for _, ob := range append([]*blob{o.base}, o.patches...) {
				if ob != nil {
					ob.path = ""
				}
			}
			_ = f.removeFiles(o.key)
		}
		s.evictLocked(nil)
		return err
	case op.commit != nil:
		return op.commit.commit(op.path, op.version)
	case op.removeKey != nil:
		return f.removeFiles(*op.removeKey)
	case op.prune != nil:
		// Directories left empty by a delete; one still in use stays.
		k := *op.prune
		app := filepath.Join(s.dir, k.App)
		if k.IsWildcard() {
			ssns, _ := os.ReadDir(app)
			for _, d := range ssns {
				_ = os.Remove(filepath.Join(app, d.Name()))
			}
		} else {
			_ = os.Remove(filepath.Join(app, k.Session))
		}
		_ = os.Remove(app)
		return nil
	}
	var first error
	for _, p := range op.remove {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) && first == nil {
			first = err
			s.log.Error("cannot remove a cache file", "path", p, "err", err)
		}
	}
	return first
}
