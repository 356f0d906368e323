package cache

import (
	"container/list"
	"sync"
)

// localCache remembers fetched objects, so that a Get of a version the
// client already holds asks the server only for what is newer.
type localCache struct {
	maxEntries int
	maxBytes   int64

	mu    sync.Mutex
	items map[localKey]*list.Element
	order *list.List // *localEntry, most recent first
	bytes int64
}

type localKey struct{ endpoint, key string }

type localEntry struct {
	id      localKey
	version int64
	base    []byte
	patches [][]byte
	size    int64
}

func newLocalCache(entries int, bytes int64) *localCache {
	return &localCache{maxEntries: entries, maxBytes: bytes, items: map[localKey]*list.Element{}, order: list.New()}
}

func (l *localCache) get(k localKey) (localEntry, bool) {
	if l == nil {
		return localEntry{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.items[k]
	if e == nil {
		return localEntry{}, false
	}
	l.order.MoveToFront(e)
	return *e.Value.(*localEntry), true
}

// put stores an entry unless it is too big to be worth keeping.
func (l *localCache) put(ent localEntry) {
	if l == nil {
		return
	}
	ent.size = int64(len(ent.base))
	for _, p := range ent.patches {
		ent.size += int64(len(p))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removeLocked(ent.id)
	if ent.size > l.maxBytes/4 {
		return
	}
	l.items[ent.id] = l.order.PushFront(&ent)
	l.bytes += ent.size
	for l.order.Len() > l.maxEntries || l.bytes > l.maxBytes {
		l.removeLocked(l.order.Back().Value.(*localEntry).id)
	}
}

func (l *localCache) remove(k localKey) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removeLocked(k)
}

func (l *localCache) removeLocked(k localKey) {
	if e := l.items[k]; e != nil {
		l.bytes -= e.Value.(*localEntry).size
		l.order.Remove(e)
		delete(l.items, k)
	}
}

// removeMatching drops every entry whose key pattern contains.
func (l *localCache) removeMatching(pattern ObjectKey) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.items {
		if key, err := ParseKey(k.key); err == nil && pattern.Contains(key) {
			l.removeLocked(k)
		}
	}
}
