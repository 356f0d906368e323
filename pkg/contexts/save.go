package contexts

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Save writes the file to f.Path, creating its directory (mode 0700) if
// needed. It edits the YAML document it was loaded from: comments, key order,
// blank lines and unknown keys stay; contexts that did not change are left
// exactly as they were; changed ones have only their changed fields
// rewritten; new ones are appended. The write is atomic (a temporary file in
// the same directory, synced, then renamed over the old one) and the result
// has mode 0600. A symbolic link at f.Path is followed, not replaced.
//
// What yaml.v3 cannot keep: indentation becomes two spaces, list items are
// indented under their key, and spacing before "#" comments is normalised.
func (f *File) Save() error {
	if f.Path == "" {
		return errors.New("save config: the file has no path")
	}
	seen := make(map[string]bool)
	for i, c := range f.Contexts {
		switch {
		case c.Name == "":
			return fmt.Errorf("save %s: context %d has no name", f.Path, i)
		case seen[c.Name]:
			return fmt.Errorf("save %s: context %q appears twice", f.Path, c.Name)
		}
		seen[c.Name] = true
	}

	data, err := f.marshal()
	if err == nil {
		err = writeAtomic(f.Path, data)
	}
	if err != nil {
		return fmt.Errorf("save %s: %w", f.Path, err)
	}
	f.src = data
	return nil
}

// marshal updates the document from f's fields and encodes it.
func (f *File) marshal() ([]byte, error) {
	f.sync()
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f.doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	if kept := keepBlankLines(f.src, out); sameData(kept, out) {
		return kept, nil
	}
	// A blank line landed inside a multi-line string; better lose the
	// blank lines than change a value.
	return out, nil
}

// sync makes the document hold f's fields.
func (f *File) sync() {
	if f.doc == nil {
		f.doc = &yaml.Node{Kind: yaml.DocumentNode}
	}
	if len(f.doc.Content) == 0 {
		f.doc.Content = []*yaml.Node{{Kind: yaml.MappingNode}}
	}
	root := f.doc.Content[0]
	if root.Kind != yaml.MappingNode { // a null document
		*root = yaml.Node{Kind: yaml.MappingNode, HeadComment: root.HeadComment, FootComment: root.FootComment}
	}

	switch v := valueOf(root, "current-context"); {
	case v != nil:
		// Kept even when empty, with the comments on and above it.
		if s, ok := text(v); !ok || s != f.CurrentContext {
			replaceString(root, "current-context", f.CurrentContext)
		}
	case f.CurrentContext != "":
		// First, where kubeconfig-shaped files have it.
		root.Content = append([]*yaml.Node{str("current-context"), str(f.CurrentContext)}, root.Content...)
	}

	if v := valueOf(root, "contexts"); v == nil || deref(v).Kind != yaml.SequenceNode {
		if len(f.Contexts) == 0 {
			return // leave an absent or empty "contexts:" alone
		}
		setNode(root, "contexts", &yaml.Node{Kind: yaml.SequenceNode})
	}
	seq := own(root, "contexts")

	type item struct {
		node *yaml.Node
		ctx  Context
	}
	old := make(map[string]item)
	for _, n := range seq.Content {
		var c Context
		if err := (&decoder{}).context(n, "", &c); err == nil {
			old[c.Name] = item{n, c}
		}
	}
	if len(seq.Content) == 0 {
		seq.Style = 0 // "contexts: []" grows into a block list
	}
	seq.Content = seq.Content[:0:0]
	for _, c := range f.Contexts {
		c = c.clone()
		it, ok := old[c.Name]
		switch {
		case !ok:
			it.node = &yaml.Node{Kind: yaml.MappingNode}
		case reflect.DeepEqual(it.ctx, c):
			seq.Content = append(seq.Content, it.node)
			continue
		case it.node.Kind == yaml.AliasNode:
			it.node = clone(deref(it.node))
		}
		writeContext(it.node, it.ctx, c)
		seq.Content = append(seq.Content, it.node)
	}
}

// writeContext changes mapping m, which holds was, to hold c. Sections that
// are equal in both (even when they come from a "<<" merge) are left alone;
// in the others only the changed fields are rewritten.
func writeContext(m *yaml.Node, was, c Context) {
	setString(m, "name", c.Name)
	if !reflect.DeepEqual(was.Cluster, c.Cluster) {
		editSection(m, "cluster", true, func(s *yaml.Node) {
			setString(s, "endpoint", c.Cluster.Endpoint)
			writeTLS(s, c.Cluster.TLS)
		})
	}
	if !reflect.DeepEqual(was.Cache, c.Cache) {
		cache := orZero(c.Cache)
		editSection(m, "cache", c.Cache != nil, func(s *yaml.Node) {
			setString(s, "endpoint", cache.Endpoint)
			writeTLS(s, cache.TLS)
			setString(s, "storage", cache.Storage)
		})
	}
	if !reflect.DeepEqual(was.Package, c.Package) {
		pkg := orZero(c.Package)
		editSection(m, "package", c.Package != nil, func(s *yaml.Node) {
			setString(s, "storage", pkg.Storage)
			setStrings(s, "excludes", pkg.Excludes)
		})
	}
	if !reflect.DeepEqual(was.Runner, c.Runner) {
		runner := orZero(c.Runner)
		editSection(m, "runner", c.Runner != nil, func(s *yaml.Node) {
			setString(s, "template", runner.Template)
		})
	}
}

func writeTLS(m *yaml.Node, t *TLSConfig) {
	tls := orZero(t)
	editSection(m, "tls", t != nil, func(s *yaml.Node) {
		setString(s, "ca_file", tls.CAFile)
	})
}

// editSection lets fill edit the mapping under key. With keep set the mapping
// is created if missing. Without it, fill clears the known fields and the
// mapping is removed if nothing (such as an unknown key) is left in it.
func editSection(m *yaml.Node, key string, keep bool, fill func(*yaml.Node)) {
	if v := valueOf(m, key); v == nil || deref(v).Kind != yaml.MappingNode {
		if !keep {
			return // nothing to clear
		}
		setNode(m, key, &yaml.Node{Kind: yaml.MappingNode})
	}
	s := own(m, key)
	if len(s.Content) == 0 {
		s.Style = 0 // "{}" grows into a block mapping
	}
	fill(s)
	if !keep && len(s.Content) == 0 {
		removeKey(m, key)
	}
}

// setString sets key in m to v, or removes the key when v is empty. A value
// that is already v is left alone, comments and quoting included.
func setString(m *yaml.Node, key, v string) {
	i := keyIndex(m, key)
	if i < 0 {
		if v != "" {
			m.Content = append(m.Content, str(key), str(v))
		}
		return
	}
	if s, ok := text(m.Content[i+1]); ok && s == v {
		return
	}
	if v == "" {
		removeKey(m, key)
		return
	}
	replaceString(m, key, v)
}

// replaceString sets the existing key in m to v. A plain scalar is changed in
// place, so that its comments and quoting stay.
func replaceString(m *yaml.Node, key, v string) {
	if old := valueOf(m, key); old.Kind == yaml.ScalarNode {
		old.Value, old.Tag = v, "!!str"
		return
	}
	setNode(m, key, str(v))
}

// setStrings sets key in m to the list vs, or removes the key when vs is
// empty. Items that stay keep their comments.
func setStrings(m *yaml.Node, key string, vs []string) {
	i := keyIndex(m, key)
	if i < 0 {
		if len(vs) > 0 {
			m.Content = append(m.Content, str(key), strList(vs))
		}
		return
	}
	var have []string
	if err := (&decoder{}).strs(m.Content[i+1], "", &have); err == nil && slices.Equal(have, vs) {
		return
	}
	if len(vs) == 0 {
		removeKey(m, key)
		return
	}
	old := m.Content[i+1]
	if old.Kind != yaml.SequenceNode {
		setNode(m, key, strList(vs))
		return
	}
	reuse := make(map[string][]*yaml.Node)
	for _, n := range old.Content {
		if s, ok := text(n); ok && n.Kind == yaml.ScalarNode {
			reuse[s] = append(reuse[s], n)
		}
	}
	old.Content = old.Content[:0:0]
	for _, v := range vs {
		n := str(v)
		if r := reuse[v]; len(r) > 0 {
			n, reuse[v] = r[0], r[1:]
		}
		old.Content = append(old.Content, n)
	}
}

// setNode puts n under key in m, keeping the comments of the node it
// replaces, and returns n.
func setNode(m *yaml.Node, key string, n *yaml.Node) *yaml.Node {
	i := keyIndex(m, key)
	if i < 0 {
		m.Content = append(m.Content, str(key), n)
		return n
	}
	old := m.Content[i+1]
	n.HeadComment, n.LineComment, n.FootComment = old.HeadComment, old.LineComment, old.FootComment
	m.Content[i+1] = n
	return n
}

// own returns the node under key in m, first replacing an alias with a copy
// of what it names, so that edits do not reach the anchored original.
func own(m *yaml.Node, key string) *yaml.Node {
	n := valueOf(m, key)
	if n.Kind == yaml.AliasNode {
		n = setNode(m, key, clone(deref(n)))
	}
	return n
}

func removeKey(m *yaml.Node, key string) {
	if i := keyIndex(m, key); i >= 0 {
		m.Content = slices.Delete(m.Content, i, i+2)
	}
}

// clone deep-copies n, without its anchor.
func clone(n *yaml.Node) *yaml.Node {
	c := *n
	c.Anchor = ""
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, child := range n.Content {
		c.Content[i] = clone(child)
	}
	return &c
}

func str(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
}

func strList(vs []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, v := range vs {
		n.Content = append(n.Content, str(v))
	}
	return n
}
