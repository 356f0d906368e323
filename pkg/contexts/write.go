package contexts

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxDiffCells bounds the work keepBlankLines does (lines before × lines
// after); flame.yaml files are far smaller.
const maxDiffCells = 1 << 20

// keepBlankLines puts back the blank lines of src that yaml.v3 drops when it
// encodes a document. The lines of out are matched to those of src with a
// longest-common-subsequence diff, ignoring indentation; a matched line gets
// as many blank lines before it as it had in src, unless lines that stood
// between them in src are gone.
func keepBlankLines(src, out []byte) []byte {
	var before []string // non-blank lines of src
	var gaps []int      // blank lines before each of them
	gap := 0
	for _, l := range strings.Split(string(src), "\n") {
		if l = strings.TrimSpace(l); l == "" {
			gap++
			continue
		}
		before, gaps = append(before, l), append(gaps, gap)
		gap = 0
	}
	after := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	n, m := len(before), len(after)
	if n == 0 || n*m > maxDiffCells {
		return out
	}

	// lcs[i*(m+1)+j] is the LCS length of before[i:] and after[j:].
	lcs := make([]int32, (n+1)*(m+1))
	at := func(i, j int) int32 { return lcs[i*(m+1)+j] }
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			switch {
			case before[i] == strings.TrimSpace(after[j]):
				lcs[i*(m+1)+j] = at(i+1, j+1) + 1
			default:
				lcs[i*(m+1)+j] = max(at(i+1, j), at(i, j+1))
			}
		}
	}

	var b bytes.Buffer
	blanks := 0 // blank lines just written
	prev := -1  // the src line matched by the last line written; -1 if none
	for i, j := 0, 0; j < m; j++ {
		for i < n && at(i, j) == at(i+1, j) {
			i++ // before[i] is not in the common subsequence from here
		}
		line := after[j]
		match := -1
		if i < n && before[i] == strings.TrimSpace(line) && at(i, j) == at(i+1, j+1)+1 {
			match = i
			i++
		}
		// Blank lines go back only between lines that were neighbours, or
		// after a changed line: not where removed lines used to be.
		if match >= 0 && (prev < 0 || prev == match-1) {
			for range gaps[match] - blanks {
				b.WriteByte('\n')
			}
		}
		b.WriteString(line)
		b.WriteByte('\n')
		if strings.TrimSpace(line) == "" {
			blanks++
		} else {
			blanks = 0
		}
		prev = match
	}
	return b.Bytes()
}

// writeAtomic replaces the file at path with data: temporary file in the same
// directory, fsync, rename, fsync of the directory.
func writeAtomic(path string, data []byte) (err error) {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable. Not every system can sync a
	// directory, and the file is in place either way.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// sameData reports whether two YAML texts hold the same data, comments and
// layout aside.
func sameData(a, b []byte) bool {
	var x, y yaml.Node
	if yaml.Unmarshal(a, &x) != nil || yaml.Unmarshal(b, &y) != nil {
		return false
	}
	var same func(x, y *yaml.Node) bool
	same = func(x, y *yaml.Node) bool {
		if x.Kind != y.Kind || x.ShortTag() != y.ShortTag() || x.Value != y.Value ||
			x.Anchor != y.Anchor || len(x.Content) != len(y.Content) {
			return false
		}
		for i := range x.Content {
			if !same(x.Content[i], y.Content[i]) {
				return false
			}
		}
		return true
	}
	return same(&x, &y)
}
