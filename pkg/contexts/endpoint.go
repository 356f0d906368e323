package contexts

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Endpoint is a parsed cluster or cache endpoint URL.
type Endpoint struct {
	Raw    string // the URL as given
	Scheme string // lower case: http, https, unix, grpc, grpcs or grpc+tls
	Host   string // host name or IP address, without brackets; "" for unix
	Port   int    // the URL's port, else the default for its kind; 0 for unix
	Path   string // the socket path of a unix endpoint
	TLS    bool   // whether to connect with TLS
}

// Address returns "host:port" (IPv6 hosts in brackets), which is what gRPC
// and net.Dial want; the URL itself is not (DEPENDENCIES.md, P2). For a unix
// endpoint it returns the gRPC target "unix:///path".
func (e Endpoint) Address() string {
	if e.Scheme == "unix" {
		return "unix://" + e.Path
	}
	return net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
}

// ParseEndpoint parses a cluster endpoint: http://host[:port] or
// https://host[:port] (port 8080 by default; TLS for https), or
// unix:///path/to/socket for a local socket.
func ParseEndpoint(raw string) (Endpoint, error) {
	return clusterEndpoint.parse(raw)
}

// ParseCacheEndpoint parses an object cache endpoint: grpc://host[:port],
// grpcs://host[:port] or grpc+tls://host[:port] (port 9090 by default; TLS
// for grpcs and grpc+tls).
func ParseCacheEndpoint(raw string) (Endpoint, error) {
	return cacheEndpoint.parse(raw)
}

type endpointKind struct {
	name    string   // "cluster" or "cache"
	schemes []string // allowed schemes, as listed in errors
	tls     []string // schemes that mean TLS
	port    int      // default port
	example string
}

var (
	clusterEndpoint = endpointKind{
		name:    "cluster",
		schemes: []string{"http", "https", "unix"},
		tls:     []string{"https"},
		port:    8080,
		example: DefaultEndpoint,
	}
	cacheEndpoint = endpointKind{
		name:    "cache",
		schemes: []string{"grpc", "grpcs", "grpc+tls"},
		tls:     []string{"grpcs", "grpc+tls"},
		port:    9090,
		example: DefaultCacheEndpoint,
	}
)

func (k endpointKind) parse(raw string) (Endpoint, error) {
	fail := func(format string, args ...any) (Endpoint, error) {
		return Endpoint{}, fmt.Errorf("invalid %s endpoint %q: %s; want %s (e.g. %s)",
			k.name, raw, fmt.Sprintf(format, args...), k.want(), k.example)
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return fail("it is empty")
	}
	scheme, _, ok := strings.Cut(s, ":")
	scheme = strings.ToLower(scheme)
	if scheme == "unix" && slices.Contains(k.schemes, "unix") {
		return parseUnix(raw, s)
	}
	if !ok || !strings.Contains(s, "://") {
		return fail("missing scheme")
	}
	if !slices.Contains(k.schemes, scheme) {
		return fail("unsupported scheme %q", scheme)
	}
	u, err := url.Parse(s)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fail("%v", err)
	}
	switch {
	case u.User != nil:
		return fail("user info is not supported")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return fail("unexpected path, query or fragment after the host")
	case u.Hostname() == "":
		return fail("missing host")
	}
	port := k.port
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return fail("port %s is out of range 1-65535", p)
		}
	}
	return Endpoint{
		Raw:    raw,
		Scheme: scheme,
		Host:   u.Hostname(),
		Port:   port,
		TLS:    slices.Contains(k.tls, scheme),
	}, nil
}

func (k endpointKind) want() string {
	s := make([]string, len(k.schemes))
	for i, scheme := range k.schemes {
		s[i] = scheme + "://"
	}
	last := len(s) - 1
	return strings.Join(s[:last], ", ") + " or " + s[last]
}

// parseUnix parses unix:///abs/path or unix:/abs/path, the two forms gRPC
// accepts for absolute socket paths.
func parseUnix(raw, s string) (Endpoint, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host != "" || !strings.HasPrefix(u.Path, "/") || u.RawQuery != "" || u.Fragment != "" {
		return Endpoint{}, fmt.Errorf("invalid cluster endpoint %q: a unix endpoint needs an absolute socket path, e.g. unix:///run/flame/frontend.sock", raw)
	}
	return Endpoint{Raw: raw, Scheme: "unix", Path: u.Path}, nil
}
