//go:build !linux

package builtin

// totalMemory returns 0 (unknown) where we have no portable way to ask.
func totalMemory() uint64 { return 0 }
