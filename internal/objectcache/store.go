package objectcache

import (
	"container/list"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flmctl/flmctl/pkg/cache"
)

// MaxPatches is how many patches one object may collect before it must be
// rewritten with a put.
const MaxPatches = 1000

// blob is one stored payload: the base of an object or one patch.
type blob struct {
	obj     *object
	version uint64
	kind    byte
	size    int64
	path    string // the file holding it; "" when the store has no directory
	damaged error  // why the file cannot be served, nil when it can

	// Guarded by Store.mu.
	pending bool          // waiting for the flusher: pinned in memory
	chunks  [][]byte      // the data when resident, nil otherwise
	elem    *list.Element // its place in the LRU while resident
}

// object is one key: a base and the patches written after it.
type object struct {
	key cache.ObjectKey
	wmu sync.Mutex // serialises writers, so versions strictly increase

	// Guarded by Store.mu.
	base    *blob
	patches []*blob
	gone    bool   // deleted or evicted: writers must look the key up again
	floor   uint64 // the last version of a deleted or evicted object at this key
}

func (o *object) versionLocked() uint64 {
	if n := len(o.patches); n > 0 {
		return o.patches[n-1].version
	}
	if o.base != nil {
		return o.base.version
	}
	return o.floor
}

func (o *object) sizeLocked() int64 {
	var n int64
	if o.base != nil {
		n = o.base.size
	}
	for _, p := range o.patches {
		n += p.size
	}
	return n
}

// Store keeps versioned objects in memory within a byte budget, writing
// each through to its directory (when it has one) so that what memory
// drops is read back from disk and everything survives a restart.
type Store struct {
	dir       string
	maxMemory int64
	// maxObjects bounds the blobs (bases and patches) held in memory; 0
	// means no bound.
	maxObjects int
	spill      int64
	log        *slog.Logger

	mu       sync.Mutex
	prefixes map[string]map[string]*object // "<app>/<ssn>" → object id → object
	lru      *list.List                    // resident blobs, most recent first
	resident int64
	flush    *flusher // nil without a directory

	// tombs remembers the last version of keys deleted or evicted, so that
	// an object put at the key again continues after it: a client still
	// holding the old version must not be told "not modified".
	tombs map[string]uint64
}

// maxTombs bounds tombs; past it the older half is forgotten.
const maxTombs = 100_000

// currentLocked reports whether b is still the base or a patch of a live
// object.
func (b *blob) currentLocked() bool {
	o := b.obj
	if o.gone {
		return false
	}
	if o.base == b {
		return true
	}
	for _, p := range o.patches {
		if p == b {
			return true
		}
	}
	return false
}

func newStore(dir string, maxMemory, spill int64, log *slog.Logger) *Store {
	s := &Store{
		dir:       dir,
		maxMemory: maxMemory,
		spill:     spill,
		log:       log,
		prefixes:  map[string]map[string]*object{},
		lru:       list.New(),
		tombs:     map[string]uint64{},
	}
	if dir != "" {
		limit := int64(256 << 20)
		if maxMemory > 0 {
			limit = min(limit, max(maxMemory/2, spill))
		}
		s.flush = newFlusher(s, limit)
	}
	return s
}

// Flush waits until every change so far is on disk.
func (s *Store) Flush() {
	if s.flush != nil {
		s.flush.flush()
	}
}

// Close writes what is still queued for the disk. The store must not be
// used afterwards.
func (s *Store) Close() {
	if s.flush != nil {
		s.flush.close()
	}
}

// staging is where files are written before they are renamed into place.
func (s *Store) staging() string { return filepath.Join(s.dir, stagingDir) }

func (s *Store) basePath(k cache.ObjectKey) string {
	return filepath.Join(s.dir, k.App, k.Session, k.Object+".obj")
}

func (s *Store) patchPath(k cache.ObjectKey, v uint64) string {
	return filepath.Join(s.dir, k.App, k.Session, k.Object+".p"+strconv.FormatUint(v, 10))
}

// lookup returns the live object for k, creating it when create is set.
func (s *Store) lookup(k cache.ObjectKey, create bool) *object {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := k.Prefix().String()
	objs := s.prefixes[p]
	if o := objs[k.Object]; o != nil || !create {
		return o
	}
	if objs == nil {
		objs = map[string]*object{}
		s.prefixes[p] = objs
	}
	o := &object{key: k, floor: s.tombs[k.String()]}
	delete(s.tombs, k.String())
	objs[k.Object] = o
	return o
}

// lockObject returns the live object for k with its writer lock held.
func (s *Store) lockObject(k cache.ObjectKey, create bool) *object {
	for {
		o := s.lookup(k, create)
		if o == nil {
			return nil
		}
		o.wmu.Lock()
		s.mu.Lock()
		gone := o.gone
		s.mu.Unlock()
		if !gone {
			return o
		}
		o.wmu.Unlock()
	}
}

// upload is a payload received by a put or patch: either in memory or in a
// temporary file that commit moves into place.
type upload struct {
	kind   byte
	chunks [][]byte
	size   int64
	file   *blobWriter // non-nil when the upload spilled to disk
}

func (u *upload) abort() {
	if u.file != nil {
		u.file.abort()
	}
}

// commitSpilled moves a spilled upload into place, in turn with the other
// disk changes.
func (s *Store) commitSpilled(u *upload, path string, v uint64) error {
	res := make(chan error, 1)
	s.flush.push(diskOp{commit: u.file, path: path, version: v, result: res})
	if err := <-res; err != nil {
		return status.Errorf(codes.Internal, "store the object on disk: %v", err)
	}
	return nil
}

func (s *Store) newBlob(o *object, u *upload, path string, v uint64) *blob {
	b := &blob{obj: o, version: v, kind: u.kind, size: u.size}
	if s.dir != "" {
		b.path = path
		b.pending = u.file == nil
	}
	if u.file == nil {
		b.chunks = u.chunks
		if b.chunks == nil {
			b.chunks = [][]byte{}
		}
	}
	return b
}

// Put stores u as the new base of k: its version is one more than the
// key's latest (base or patch), and earlier patches are dropped.
func (s *Store) Put(k cache.ObjectKey, u *upload) (uint64, error) {
	if s.dir == "" && s.maxMemory > 0 && u.size > s.maxMemory {
		u.abort()
		return 0, status.Errorf(codes.ResourceExhausted,
			"object of %d bytes exceeds the cache's memory budget of %d bytes and the cache has no storage directory", u.size, s.maxMemory)
	}
	o := s.lockObject(k, true)
	defer o.wmu.Unlock()
	s.mu.Lock()
	v := o.versionLocked() + 1
	s.mu.Unlock()
	path := s.basePath(k)
	if u.file != nil {
		if err := s.commitSpilled(u, path, v); err != nil {
			s.dropIfEmpty(o)
			return 0, err
		}
	} else if s.flush != nil {
		s.flush.reserve(u.size)
	}
	b := s.newBlob(o, u, path, v)
	s.mu.Lock()
	defer s.mu.Unlock()
	var stale []string
	if o.base != nil {
		s.unresidentLocked(o.base)
	}
	for _, p := range o.patches {
		s.unresidentLocked(p)
		if p.path != "" {
			stale = append(stale, p.path)
		}
	}
	o.base, o.patches = b, nil
	s.residentLocked(b)
	if b.pending {
		s.flush.push(diskOp{write: b})
	}
	if len(stale) > 0 {
		s.flush.push(diskOp{remove: stale})
	}
	return v, nil
}

// Patch appends u to k as a patch with the next version.
func (s *Store) Patch(k cache.ObjectKey, u *upload) (uint64, error) {
	o := s.lockObject(k, false)
	if o == nil {
		u.abort()
		return 0, status.Errorf(codes.NotFound, "object %s not found for patch", k)
	}
	defer o.wmu.Unlock()
	s.mu.Lock()
	hasBase, n, v := o.base != nil, len(o.patches), o.versionLocked()+1
	s.mu.Unlock()
	switch {
	case !hasBase:
		u.abort()
		return 0, status.Errorf(codes.NotFound, "object %s not found for patch", k)
	case n >= MaxPatches:
		u.abort()
		return 0, status.Errorf(codes.InvalidArgument,
			"object %s already has %d patches: put the merged object to start again", k, n)
	}
	path := s.patchPath(k, v)
	if u.file != nil {
		if err := s.commitSpilled(u, path, v); err != nil {
			return 0, err
		}
	} else if s.flush != nil {
		s.flush.reserve(u.size)
	}
	b := s.newBlob(o, u, path, v)
	s.mu.Lock()
	defer s.mu.Unlock()
	o.patches = append(o.patches, b)
	s.residentLocked(b)
	if b.pending {
		s.flush.push(diskOp{write: b})
	}
	return v, nil
}

func (s *Store) dropIfEmpty(o *object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.base == nil && !o.gone {
		s.removeLocked(o)
	}
}

// snapshot is what a reader sees of an object at one moment.
type snapshot struct {
	base    *blob
	patches []*blob
}

func (sn snapshot) version() uint64 {
	if n := len(sn.patches); n > 0 {
		return sn.patches[n-1].version
	}
	return sn.base.version
}

// Get returns a snapshot of k and marks it recently used.
func (s *Store) Get(k cache.ObjectKey) (snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.prefixes[k.Prefix().String()][k.Object]
	if o == nil || o.base == nil {
		return snapshot{}, status.Errorf(codes.NotFound, "object %s not found", k)
	}
	sn := snapshot{base: o.base, patches: append([]*blob(nil), o.patches...)}
	for _, b := range append([]*blob{sn.base}, sn.patches...) {
		if b.elem != nil {
			s.lru.MoveToFront(b.elem)
		}
	}
	return sn, nil
}

// each calls fn with every chunk of b: from memory when resident, else from
// its file (checking every checksum), bringing a blob that fits back into
// memory. kept tells fn that the chunk stays valid and unchanged after the
// call; otherwise its memory is reused for the next chunk.
func (s *Store) each(b *blob, fn func(chunk []byte, kept bool) error) error {
	if b.damaged != nil {
		return damagedStatus(b, b.damaged)
	}
	s.mu.Lock()
	chunks := b.chunks
	s.mu.Unlock()
	if chunks != nil {
		for _, c := range chunks {
			if err := fn(c, true); err != nil {
				return err
			}
		}
		return nil
	}
	if b.path == "" {
		return status.Errorf(codes.NotFound, "object %s was evicted from memory", b.obj.key)
	}
	keep := s.fits(b.size)
	var kept [][]byte
	err := readBlob(b.path, b.version, keep, func(c []byte) error {
		if keep {
			kept = append(kept, c)
		}
		return fn(c, keep)
	})
	if errors.Is(err, ErrDamaged) {
		s.log.Error("cache object damaged on disk", "key", b.obj.key.String(), "err", err)
		return damagedStatus(b, err)
	}
	if errors.Is(err, errStale) || errors.Is(err, os.ErrNotExist) {
		// Replaced or deleted since the snapshot: the file holds another
		// version, or none.
		return errStale
	}
	if err != nil {
		return err
	}
	if keep {
		s.mu.Lock()
		if b.chunks == nil && b.currentLocked() {
			b.chunks = kept
			if kept == nil {
				b.chunks = [][]byte{}
			}
			s.residentLocked(b)
		}
		s.mu.Unlock()
	}
	return nil
}

func damagedStatus(b *blob, err error) error {
	return status.Errorf(codes.DataLoss,
		"object %s (version %d) is damaged on disk and will not be served: %v; delete it and put it again",
		b.obj.key, b.version, err)
}

// fits reports whether a blob of n bytes may live in memory.
func (s *Store) fits(n int64) bool {
	return s.spill <= 0 || n <= s.spill
}

// residentLocked adds a blob holding its data to the LRU and evicts what
// the budget no longer allows.
func (s *Store) residentLocked(b *blob) {
	if b.chunks == nil || b.elem != nil {
		return
	}
	b.elem = s.lru.PushFront(b)
	s.resident += b.size
	s.evictLocked(b)
}

// evictLocked drops the least recently used data until the budget holds,
// sparing keep and blobs not yet on disk.
func (s *Store) evictLocked(keep *blob) {
	over := func() bool {
		return (s.maxMemory > 0 && s.resident > s.maxMemory) || (s.maxObjects > 0 && s.lru.Len() > s.maxObjects)
	}
	for e := s.lru.Back(); e != nil && over(); {
		victim := e.Value.(*blob)
		e = e.Prev()
		switch {
		case victim == keep || victim.pending:
		case victim.path == "":
			// Nothing on disk: evicting the data loses the object.
			if victim.obj != keep.objOrNil() {
				s.removeLocked(victim.obj)
				e = s.lru.Back() // removeLocked may have taken e too
			}
		default:
			s.unresidentLocked(victim)
		}
	}
}

func (b *blob) objOrNil() *object {
	if b == nil {
		return nil
	}
	return b.obj
}

func (s *Store) unresidentLocked(b *blob) {
	if b.elem != nil {
		s.lru.Remove(b.elem)
		b.elem = nil
		s.resident -= b.size
	}
	b.chunks = nil
}

// removeLocked forgets o and its resident data (not its files).
func (s *Store) removeLocked(o *object) {
	if o.base != nil {
		s.unresidentLocked(o.base)
	}
	for _, p := range o.patches {
		s.unresidentLocked(p)
	}
	o.gone = true
	if v := o.versionLocked(); v > 0 {
		if len(s.tombs) >= maxTombs {
			n := 0
			for k := range s.tombs {
				delete(s.tombs, k)
				if n++; n >= maxTombs/2 {
					break
				}
			}
		}
		s.tombs[o.key.String()] = v
	}
	p := o.key.Prefix().String()
	if objs := s.prefixes[p]; objs[o.key.Object] == o {
		delete(objs, o.key.Object)
		if len(objs) == 0 {
			delete(s.prefixes, p)
		}
	}
}

// Delete removes every object matched by pattern (a key, a prefix or
// "<app>/*") from memory and disk. Deleting nothing is not an error. Each
// object is removed under its writer lock, so that a put in progress
// either finishes before (and is deleted) or starts after (and stays); only
// the files of the deleted objects are removed, never an upload in
// progress under the same prefix.
func (s *Store) Delete(pattern cache.ObjectKey) error {
	s.mu.Lock()
	var victims []*object
	for _, objs := range s.prefixes {
		for _, o := range objs {
			if pattern.Contains(o.key) {
				victims = append(victims, o)
			}
		}
	}
	s.mu.Unlock()
	for _, o := range victims {
		o.wmu.Lock()
		s.mu.Lock()
		if !o.gone {
			s.removeLocked(o)
			if s.flush != nil {
				k := o.key
				s.flush.push(diskOp{removeKey: &k})
			}
		}
		s.mu.Unlock()
		o.wmu.Unlock()
	}
	if s.flush != nil && pattern.IsPrefix() {
		s.mu.Lock()
		s.flush.push(diskOp{prune: &pattern})
		s.mu.Unlock()
	}
	return nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// Info describes one stored object.
type Info struct {
	Key     cache.ObjectKey
	Version uint64
	Size    int64
	Patches int
}

// List returns the objects under prefix (all when prefix is empty), sorted
// by key.
func (s *Store) List(match func(cache.ObjectKey) bool) []Info {
	s.mu.Lock()
	var out []Info
	for _, objs := range s.prefixes {
		for _, o := range objs {
			if o.base == nil || (match != nil && !match(o.key)) {
				continue
			}
			out = append(out, Info{Key: o.key, Version: o.versionLocked(), Size: o.sizeLocked(), Patches: len(o.patches)})
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key.String() < out[j].Key.String() })
	return out
}

// parseFileName splits "<obj>.obj" and "<obj>.p<version>" file names.
func parseFileName(name string) (id string, patch uint64, ok bool) {
	if id, found := strings.CutSuffix(name, ".obj"); found {
		return id, 0, id != ""
	}
	i := strings.LastIndex(name, ".p")
	if i <= 0 {
		return "", 0, false
	}
	v, err := strconv.ParseUint(name[i+2:], 10, 64)
	if err != nil || v == 0 {
		return "", 0, false
	}
	return name[:i], v, true
}

// load reads what the directory holds: every object with its base and the
// patches newer than it. Temporary files of interrupted writes are removed;
// damaged files are kept and reported, and reads of them fail.
func (s *Store) load() error {
	if s.dir == "" {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("create the cache directory: %w", err)
	}
	// Whatever was being written when the last process ended is lost.
	if err := os.RemoveAll(s.staging()); err != nil {
		return fmt.Errorf("clear the cache's staging directory: %w", err)
	}
	apps, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("read the cache directory: %w", err)
	}
	var objects, damaged int
	for _, app := range apps {
		if !app.IsDir() {
			continue
		}
		ssns, _ := os.ReadDir(filepath.Join(s.dir, app.Name()))
		for _, ssn := range ssns {
			if !ssn.IsDir() {
				continue
			}
			n, d := s.loadPrefix(app.Name(), ssn.Name())
			objects += n
			damaged += d
		}
	}
	if objects > 0 || damaged > 0 {
		s.log.Info("cache objects loaded from disk", "objects", objects, "damaged", damaged, "dir", s.dir)
	}
	return nil
}

func (s *Store) loadPrefix(app, ssn string) (objects, damaged int) {
	dir := filepath.Join(s.dir, app, ssn)
	entries, _ := os.ReadDir(dir)
	patches := map[string][]*blob{}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		if strings.HasPrefix(name, tmpPrefix) {
			_ = os.Remove(path)
			continue
		}
		id, pv, ok := parseFileName(name)
		if !ok || e.IsDir() {
			continue
		}
		k, err := cache.ParseKey(app + "/" + ssn + "/" + id)
		if err != nil {
			s.log.Warn("ignoring a file whose name is not a cache key", "path", path, "err", err)
			continue
		}
		info, err := statBlob(path)
		if err != nil && !errors.Is(err, ErrDamaged) {
			s.log.Warn("cannot read a cache file", "path", path, "err", err)
			continue
		}
		o := s.lookup(k, true)
		b := &blob{obj: o, version: info.version, kind: info.kind, size: int64(info.size), path: path, damaged: err}
		if err != nil {
			damaged++
			s.log.Error("cache file damaged; reads of it will fail until it is deleted or put again", "key", k.String(), "err", err)
		}
		if pv == 0 {
			o.base = b
			objects++
		} else {
			if err == nil && info.version != pv {
				b.damaged = fmt.Errorf("%s: %w (version %d in a file named for %d)", path, ErrDamaged, info.version, pv)
			}
			b.version = pv
			patches[id] = append(patches[id], b)
		}
	}
	for id, ps := range patches {
		o := s.lookup(cache.ObjectKey{App: app, Session: ssn, Object: id}, false)
		sort.Slice(ps, func(i, j int) bool { return ps[i].version < ps[j].version })
		next := uint64(0)
		if o.base != nil {
			next = o.base.version + 1
		}
		for _, p := range ps {
			switch {
			case o.base == nil || p.version < next:
				// Left behind by a put that replaced the base.
				_ = os.Remove(p.path)
			case p.version > next:
				// A gap (a patch that never reached the disk): what follows
				// it cannot be applied.
				s.log.Warn("dropping cache patches after a missing one", "key", o.key.String(), "missing", next, "dropped", p.path)
				_ = os.Remove(p.path)
			default:
				o.patches = append(o.patches, p)
				next++
			}
		}
	}
	s.mu.Lock()
	for id, o := range s.prefixes[app+"/"+ssn] {
		if o.base == nil {
			delete(s.prefixes[app+"/"+ssn], id)
		}
	}
	s.mu.Unlock()
	return objects, damaged
}
