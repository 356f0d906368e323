package objectcache

import (
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
	pending int64 // bytes of queued writes
	busy    bool
	closed  bool
	done    chan struct{}
}

// diskOp is one change to the directory.
type diskOp struct {
	write     *blob            // write this blob to its path, if still current
	commit    *blobWriter      // commit this spilled upload to path
	path      string           // for commit
	version   uint64           // for commit
	remove    []string         // remove these paths, recursively
	removeKey *cache.ObjectKey // remove this key's files
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
// is the order of the changes in memory.
func (f *flusher) push(op diskOp) {
	f.mu.Lock()
	f.ops = append(f.ops, op)
	f.cond.Broadcast()
	f.mu.Unlock()
}

// flush waits until everything queued so far is on disk.
func (f *flusher) flush() {
	f.mu.Lock()
	for (len(f.ops) > 0 || f.busy) && !f.closed {
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
		f.busy = true
		f.mu.Unlock()

		err := f.run(op)

		f.mu.Lock()
		f.busy = false
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
		err := writeBlob(b.path, b.kind, b.version, chunks)
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			// It stays pinned in memory, so it is still served.
			s.log.Error("cannot write a cache object to disk; it is kept in memory only", "key", b.obj.key.String(), "err", err)
			return err
		}
		b.pending = false
		s.evictLocked(nil)
		return nil
	case op.commit != nil:
		return op.commit.commit(op.path, op.version)
	case op.removeKey != nil:
		k := *op.removeKey
		matches, _ := filepath.Glob(filepath.Join(s.dir, k.App, k.Session, globEscape(k.Object)+".*"))
		for _, m := range matches {
			if id, _, ok := parseFileName(filepath.Base(m)); ok && id == k.Object {
				op.remove = append(op.remove, m)
			}
		}
	}
	var first error
	for _, p := range op.remove {
		if err := os.RemoveAll(p); err != nil && first == nil {
			first = err
			s.log.Error("cannot remove a cache file", "path", p, "err", err)
		}
	}
	return first
}
