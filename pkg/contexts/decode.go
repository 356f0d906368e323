package contexts

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parse reads a flame.yaml document. The document is walked by hand rather
// than decoded into structs, so that every error can name the line and the
// field path (contexts[1].cluster.endpoint).
func parse(path string, data []byte) (*File, error) {
	f := &File{Path: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return f, nil // empty, or only comments
	}
	d := &decoder{path: path}
	if root := deref(doc.Content[0]); !isNull(root) && root.Kind != yaml.MappingNode {
		return nil, d.errorf(root, "", "expected a mapping with current-context and contexts at the top, got %s", describe(root))
	}
	if err := d.fields(doc.Content[0], "", func(key string, v *yaml.Node, field string) error {
		switch key {
		case "current-context":
			return d.str(v, field, &f.CurrentContext)
		case "contexts":
			return d.contexts(v, field, f)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	f.doc, f.src = &doc, data
	return f, nil
}

// syntaxError turns yaml.v3's "yaml: line 3: msg" into "path:3: msg".
func syntaxError(path string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if line, msg, ok := strings.Cut(rest, ": "); ok {
			return fmt.Errorf("%s:%s: invalid YAML: %s", path, line, msg)
		}
	}
	return fmt.Errorf("%s: invalid YAML: %s", path, msg)
}

type decoder struct {
	path  string // file name for error messages
	nodes int    // mappings and keys visited so far, merged ones included
}

// maxNodes bounds the mappings and keys a file may have once merges are
// expanded: merge keys that merge each other can otherwise blow up
// exponentially (the "billion laughs" attack). Real files have hundreds.
const maxNodes = 1 << 16

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	return fmt.Errorf("%s:%d: %s", d.path, n.Line, msg)
}

// fields calls fn for each key of mapping n, with the key's field path. Keys
// merged in with "<<" come first, so that keys written in n override them.
// A null n is an empty mapping.
func (d *decoder) fields(n *yaml.Node, path string, fn func(key string, v *yaml.Node, field string) error) error {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return d.errorf(n, path, "expected a mapping, got %s", describe(n))
	}
	if d.nodes += 1 + len(n.Content)/2; d.nodes > maxNodes {
		return d.errorf(n, path, "more than %d keys once merge keys (<<) are expanded; do merges merge each other?", maxNodes)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !isMerge(n.Content[i]) {
			continue
		}
		v := deref(n.Content[i+1])
		srcs := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			srcs = v.Content
		}
		// Of several merged mappings the first wins, so it goes last.
		for _, src := range slices.Backward(srcs) {
			if err := d.fields(src, path, fn); err != nil {
				return err
			}
		}
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if isMerge(k) {
			continue
		}
		field := join(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			return d.errorf(k, field, "key repeated (first at line %d); remove one", line)
		}
		seen[k.Value] = k.Line
		if err := fn(k.Value, n.Content[i+1], field); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) str(n *yaml.Node, field string, dst *string) error {
	s, ok := text(n)
	if !ok {
		return d.errorf(n, field, "expected a string, got %s", describe(deref(n)))
	}
	*dst = s
	return nil
}

// text returns the string scalar n holds ("" for null), and false if n is
// not a scalar.
func text(n *yaml.Node) (string, bool) {
	n = deref(n)
	switch {
	case isNull(n):
		return "", true
	case n.Kind == yaml.ScalarNode:
		return n.Value, true
	}
	return "", false
}

func (d *decoder) strs(n *yaml.Node, field string, dst *[]string) error {
	n = deref(n)
	*dst = nil
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return d.errorf(n, field, "expected a list of strings, got %s", describe(n))
	}
	for i, item := range n.Content {
		var s string
		if err := d.str(item, fmt.Sprintf("%s[%d]", field, i), &s); err != nil {
			return err
		}
		*dst = append(*dst, s)
	}
	return nil
}

func (d *decoder) contexts(n *yaml.Node, field string, f *File) error {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return d.errorf(n, field, "expected a list of contexts, got %s", describe(n))
	}
	seen := make(map[string]int)
	for i, item := range n.Content {
		path := fmt.Sprintf("%s[%d]", field, i)
		var c Context
		if err := d.context(item, path, &c); err != nil {
			return err
		}
		if c.Name == "" {
			return d.errorf(item, path+".name", "missing; every context needs a name")
		}
		if line, dup := seen[c.Name]; dup {
			return d.errorf(item, path+".name", "context %q is already defined at line %d; rename or remove one", c.Name, line)
		}
		seen[c.Name] = item.Line
		f.Contexts = append(f.Contexts, c)
	}
	return nil
}

func (d *decoder) context(n *yaml.Node, path string, c *Context) error {
	if isNull(deref(n)) {
		return d.errorf(n, path, "expected a context (a mapping with name and cluster), got nothing")
	}
	return d.fields(n, path, func(key string, v *yaml.Node, field string) error {
		switch key {
		case "name":
			return d.str(v, field, &c.Name)
		case "cluster":
			c.Cluster = ClusterConfig{}
			return d.fields(v, field, func(key string, v *yaml.Node, field string) error {
				switch key {
				case "endpoint":
					return d.str(v, field, &c.Cluster.Endpoint)
				case "tls":
					return d.tls(v, field, &c.Cluster.TLS)
				}
				return nil
			})
		case "cache":
			return section(d, v, field, &c.Cache, func(cache *CacheConfig, key string, v *yaml.Node, field string) error {
				switch key {
				case "endpoint":
					return d.str(v, field, &cache.Endpoint)
				case "tls":
					return d.tls(v, field, &cache.TLS)
				case "storage":
					return d.str(v, field, &cache.Storage)
				}
				return nil
			})
		case "package":
			return section(d, v, field, &c.Package, func(pkg *PackageConfig, key string, v *yaml.Node, field string) error {
				switch key {
				case "storage":
					return d.str(v, field, &pkg.Storage)
				case "excludes":
					return d.strs(v, field, &pkg.Excludes)
				}
				return nil
			})
		case "runner":
			return section(d, v, field, &c.Runner, func(r *RunnerConfig, key string, v *yaml.Node, field string) error {
				if key == "template" {
					return d.str(v, field, &r.Template)
				}
				return nil
			})
		}
		return nil
	})
}

func (d *decoder) tls(n *yaml.Node, path string, dst **TLSConfig) error {
	return section(d, n, path, dst, func(t *TLSConfig, key string, v *yaml.Node, field string) error {
		if key == "ca_file" {
			return d.str(v, field, &t.CAFile)
		}
		return nil
	})
}

// section decodes the optional mapping n into a new T stored in *dst; a null
// n leaves *dst nil.
func section[T any](d *decoder, n *yaml.Node, path string, dst **T, field func(t *T, key string, v *yaml.Node, field string) error) error {
	*dst = nil
	if isNull(deref(n)) {
		return nil
	}
	t := new(T)
	*dst = t
	return d.fields(n, path, func(key string, v *yaml.Node, f string) error { return field(t, key, v, f) })
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// valueOf returns the value under key in mapping m (keys written in m only,
// not merged ones), or nil.
func valueOf(m *yaml.Node, key string) *yaml.Node {
	if i := keyIndex(m, key); i >= 0 {
		return m.Content[i+1]
	}
	return nil
}

// keyIndex returns the index of key in m.Content, or -1.
func keyIndex(m *yaml.Node, key string) int {
	if m.Kind != yaml.MappingNode {
		return -1
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Value == key && !isMerge(k) {
			return i
		}
	}
	return -1
}
