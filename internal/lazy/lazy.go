// Package lazy holds a process-wide value built on first use, as the
// package-level functions of pkg/client and pkg/cache need for their
// default connection and client.
package lazy

import "sync"

// Value is a value built by the first successful Get. The zero Value is
// empty.
type Value[T comparable] struct {
	mu sync.Mutex
	v  T // guarded by mu; the zero T means "not built"
}

// Get returns the value, building it with build if it is empty. A failed
// build is not remembered: the next Get tries again. It is safe for
// concurrent use; builds do not overlap.
func (l *Value[T]) Get(build func() (T, error)) (T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var zero T
	if l.v != zero {
		return l.v, nil
	}
	v, err := build()
	if err != nil {
		return zero, err
	}
	l.v = v
	return v, nil
}

// Set replaces the value; the zero T empties it, so that the next Get
// builds it again.
func (l *Value[T]) Set(v T) {
	l.mu.Lock()
	l.v = v
	l.mu.Unlock()
}
