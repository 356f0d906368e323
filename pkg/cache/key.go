package cache

import (
	"fmt"
	"strings"
)

// ObjectKey names a cached object: "<app>/<session>/<object>". A key with an
// empty Object is a prefix ("<app>/<session>"), under which Put makes a new
// object with a server-generated id. Session "*" is the wildcard prefix
// "<app>/*", which only Delete accepts.
type ObjectKey struct {
	App     string
	Session string
	Object  string
}

// Wildcard is the session component of a prefix that matches every session
// of an application.
const Wildcard = "*"

// String returns the key in its wire form.
func (k ObjectKey) String() string {
	if k.Object == "" {
		return k.App + "/" + k.Session
	}
	return k.App + "/" + k.Session + "/" + k.Object
}

// IsPrefix reports whether the key names a prefix rather than one object.
func (k ObjectKey) IsPrefix() bool { return k.Object == "" }

// IsWildcard reports whether the key is the "<app>/*" prefix.
func (k ObjectKey) IsWildcard() bool { return k.Session == Wildcard && k.Object == "" }

// Prefix returns the "<app>/<session>" part of the key.
func (k ObjectKey) Prefix() ObjectKey { return ObjectKey{App: k.App, Session: k.Session} }

// Child returns the full key of object id under this prefix.
func (k ObjectKey) Child(id string) ObjectKey {
	return ObjectKey{App: k.App, Session: k.Session, Object: id}
}

// Contains reports whether other is k itself or lies under the prefix k.
func (k ObjectKey) Contains(other ObjectKey) bool {
	switch {
	case k.App != other.App:
		return false
	case k.IsWildcard():
		return true
	case k.Session != other.Session:
		return false
	case k.Object == "":
		return true
	}
	return k.Object == other.Object
}

// KeyError is a key that breaks a rule. Rule says which, in words a user can
// act on.
type KeyError struct {
	Key  string
	Rule string
}

// Error says which key broke which rule.
func (e *KeyError) Error() string {
	return fmt.Sprintf("invalid cache key %q: %s", e.Key, e.Rule)
}

// What a parse accepts.
const (
	allowFull     = 1 << iota // <app>/<ssn>/<obj>
	allowPrefix               // <app>/<ssn>
	allowWildcard             // <app>/*
)

// ParseKey parses a full key "<app>/<session>/<object>".
func ParseKey(s string) (ObjectKey, error) { return parseKey(s, allowFull) }

// ParsePrefix parses a prefix "<app>/<session>".
func ParsePrefix(s string) (ObjectKey, error) { return parseKey(s, allowPrefix) }

// ParseKeyOrPrefix parses a full key or a prefix: what Put and Upload take.
func ParseKeyOrPrefix(s string) (ObjectKey, error) { return parseKey(s, allowFull|allowPrefix) }

// ParsePattern parses what Delete takes: a full key, a prefix or "<app>/*".
func ParsePattern(s string) (ObjectKey, error) {
	return parseKey(s, allowFull|allowPrefix|allowWildcard)
}

func parseKey(s string, allow int) (ObjectKey, error) {
	bad := func(rule string) (ObjectKey, error) { return ObjectKey{}, &KeyError{Key: s, Rule: rule} }
	parts := strings.Split(s, "/")
	want := shapes(allow)
	if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3 && allow&allowFull == 0) ||
		(len(parts) == 2 && allow&(allowPrefix|allowWildcard) == 0) {
		return bad("expected " + want)
	}
	for i, p := range parts {
		if err := checkComponent(p); err != "" {
			return bad(fmt.Sprintf("%s component %q %s", componentName(i), p, err))
		}
		if strings.Contains(p, Wildcard) {
			switch {
			case p != Wildcard || i != 1:
				return bad(`"*" is only allowed as the whole session component, as in "<app>/*"`)
			case allow&allowWildcard == 0:
				return bad(`the wildcard "<app>/*" is only accepted by delete; expected ` + want)
			case len(parts) == 3:
				return bad(`the wildcard "<app>/*" cannot have an object component`)
			}
		}
	}
	k := ObjectKey{App: parts[0], Session: parts[1]}
	if len(parts) == 3 {
		k.Object = parts[2]
	}
	return k, nil
}

func shapes(allow int) string {
	var s []string
	if allow&allowPrefix != 0 {
		s = append(s, `"<app>/<session>"`)
	}
	if allow&allowWildcard != 0 {
		s = append(s, `"<app>/*"`)
	}
	if allow&allowFull != 0 {
		s = append(s, `"<app>/<session>/<object>"`)
	}
	return strings.Join(s, " or ")
}

func componentName(i int) string {
	return [...]string{"application", "session", "object"}[i]
}

// maxComponent is the longest key component: an object id becomes a file
// name with a suffix of up to 22 bytes (".p" and a version), and file names
// are limited to 255 bytes.
const maxComponent = 200

// checkComponent returns why p cannot be a key component, or "".
// Components become directory and file names on the server, and ':'
// separates the key from the version in a ticket.
func checkComponent(p string) string {
	switch {
	case p == "":
		return "is empty"
	case p == "." || strings.Contains(p, ".."):
		return `must not be "." or contain ".."`
	case strings.ContainsAny(p, `\:`):
		return `must not contain '\' or ':'`
	case len(p) > maxComponent:
		return fmt.Sprintf("is longer than %d bytes", maxComponent)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "must not contain control characters"
		}
	}
	return ""
}
