package cluster

import (
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
