package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"":       0, // the cache's default
		"0":      -1,
		"1G":     1 << 30,
		"1g":     1 << 30,
		"512M":   512 << 20,
		"512MiB": 512 << 20,
		"64KB":   64 << 10,
		"1.5G":   3 << 29,
		"2T":     2 << 40,
		"4096":   4096,
		" 8M ":   8 << 20,
	} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"lots", "-1G", "1X", "G", "1e30"} {
		if _, err := parseSize(in); err == nil || !strings.Contains(err.Error(), "e.g. 512M or 4G") {
			t.Errorf("parseSize(%q) = %v, want an error with an example", in, err)
		}
	}
}

// Upstream's cache variables set what the flags leave unset.
func TestStartCacheEnvironment(t *testing.T) {
	tests := []struct {
		env     map[string]string
		line    string
		mem     string
		objects int
		wantErr string
	}{
		{env: map[string]string{"FLAME_CACHE_MAX_MEMORY": "2G"}, mem: "2G"},
		{env: map[string]string{"FLAME_CACHE_MAX_MEMORY": "2G"}, line: "--cache-max-memory 1G", mem: "1G"},
		{env: map[string]string{"FLAME_CACHE_EVICTION_POLICY": "none"}, mem: "0"},
		{env: map[string]string{"FLAME_CACHE_EVICTION_POLICY": "LRU", "FLAME_CACHE_MAX_MEMORY": "3G"}, mem: "3G"},
		{env: map[string]string{"FLAME_CACHE_EVICTION_POLICY": "fifo"}, wantErr: `invalid FLAME_CACHE_EVICTION_POLICY "fifo": use lru or none`},
		{env: map[string]string{"FLAME_CACHE_MAX_OBJECTS": "100"}, objects: 100},
		{env: map[string]string{"FLAME_CACHE_MAX_OBJECTS": "100"}, line: "--cache-max-objects 5", objects: 5},
		{env: map[string]string{"FLAME_CACHE_MAX_OBJECTS": "many"}, wantErr: `invalid FLAME_CACHE_MAX_OBJECTS "many": use a whole number (0 for no limit)`},
		{line: "--cache-max-objects -1", wantErr: "invalid --cache-max-objects -1: use a whole number (0 for no limit)"},
		{env: map[string]string{"FLAME_CACHE_MAX_MEMORY": "lots"}, wantErr: `invalid cache memory size "lots": use a number with an optional K, M, G or T suffix, e.g. 512M or 4G`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.env, tt.line), func(t *testing.T) {
			e := newTestEnv(t, false)
			e.F.LookupEnv = func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			var got *StartOptions
			err := execute(t, e.F, NewCmdStart(e.F, func(_ context.Context, o *StartOptions) error { got = o; return nil }), tt.line)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if got.CacheMaxMemory != tt.mem || got.CacheMaxObjects != tt.objects {
				t.Errorf("cache max memory %q, objects %d; want %q, %d", got.CacheMaxMemory, got.CacheMaxObjects, tt.mem, tt.objects)
			}
		})
	}
}
