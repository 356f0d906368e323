package contexts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Defaults for settings that neither flags, environment nor flame.yaml set.
const (
	// DefaultEndpoint is the cluster (session manager frontend) endpoint.
	DefaultEndpoint = "http://127.0.0.1:8080"
	// DefaultCacheEndpoint is the object cache endpoint.
	DefaultCacheEndpoint = "grpc://127.0.0.1:9090"
	// DefaultRunnerTemplate is the application Runner copies for its services.
	DefaultRunnerTemplate = "flmrun"
)

// Environment variables read by [DefaultPath] and [Resolve].
const (
	// EnvConfig names the config file to use instead of $HOME/.flame/flame.yaml.
	EnvConfig = "FLAME_CONFIG"
	// EnvEndpoint replaces the cluster endpoint.
	EnvEndpoint = "FLAME_ENDPOINT"
	// EnvCacheEndpoint replaces the cache endpoint.
	EnvCacheEndpoint = "FLAME_CACHE_ENDPOINT"
	// EnvCacheStorage replaces the local cache storage path.
	EnvCacheStorage = "FLAME_CACHE_STORAGE"
	// EnvCAFile is the CA file for cluster and cache TLS where the context sets none.
	EnvCAFile = "FLAME_CA_FILE"
)

// File is a loaded flame.yaml. It keeps the parsed YAML document, so that
// [File.Save] writes back the user's comments, key order and unknown keys.
//
// Change it with [File.SetContext], [File.DeleteContext] and
// [File.UseContext], or by editing the fields directly; Save writes whatever
// the fields hold.
type File struct {
	// Path is where the file was read from and where Save writes it.
	Path string
	// CurrentContext names the context used when none is asked for.
	CurrentContext string
	// Contexts are the file's contexts in file order.
	Contexts []Context

	doc *yaml.Node // parsed document; nil when the file was missing or empty
	src []byte     // bytes doc was parsed from; Save uses them to keep blank lines
}

// Context is one named entry of flame.yaml.
type Context struct {
	Name    string         `yaml:"name"`
	Cluster ClusterConfig  `yaml:"cluster"`
	Cache   *CacheConfig   `yaml:"cache,omitempty"`
	Package *PackageConfig `yaml:"package,omitempty"`
	Runner  *RunnerConfig  `yaml:"runner,omitempty"`
}

// ClusterConfig is how to reach the session manager.
type ClusterConfig struct {
	Endpoint string     `yaml:"endpoint"`
	TLS      *TLSConfig `yaml:"tls,omitempty"`
}

// TLSConfig is the client side of TLS: the CA that signed the server's
// certificate. Without it the system trust store is used.
type TLSConfig struct {
	CAFile string `yaml:"ca_file,omitempty"`
}

// CacheConfig is how to reach the object cache. Storage is a directory shared
// with the cache server, which clients may read directly.
type CacheConfig struct {
	Endpoint string     `yaml:"endpoint,omitempty"`
	TLS      *TLSConfig `yaml:"tls,omitempty"`
	Storage  string     `yaml:"storage,omitempty"`
}

// PackageConfig is where Runner uploads application packages and which files
// it leaves out of them.
type PackageConfig struct {
	Storage  string   `yaml:"storage,omitempty"`
	Excludes []string `yaml:"excludes,omitempty"`
}

// RunnerConfig configures Runner.
type RunnerConfig struct {
	Template string `yaml:"template,omitempty"`
}

// ErrNoCurrentContext is wrapped by the errors of [File.Current] and
// [Resolve] when the file has contexts but its current-context is unset or
// names none of them.
var ErrNoCurrentContext = errors.New("no current context")

// UnknownContextError reports a context name that is not in the file.
type UnknownContextError struct {
	Name      string   // the name asked for
	Available []string // the names the file has
	File      string   // the file looked in; "" when there was none
}

// Error says which context is missing, where, and which ones there are.
func (e *UnknownContextError) Error() string {
	switch {
	case e.File == "":
		return fmt.Sprintf("context %q not found: there is no config file", e.Name)
	case len(e.Available) == 0:
		return fmt.Sprintf("context %q not found: %s has no contexts", e.Name, e.File)
	}
	return fmt.Sprintf("context %q not found in %s; available: %s (see \"flmctl context list\")",
		e.Name, e.File, strings.Join(e.Available, ", "))
}

// DefaultPath returns the config file to use when no --config flag is given:
// $FLAME_CONFIG if set, else $HOME/.flame/flame.yaml. A nil lookupEnv means
// [os.LookupEnv].
func DefaultPath(lookupEnv func(string) (string, bool)) (string, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	if p, _ := lookupEnv(EnvConfig); p != "" {
		return p, nil
	}
	if home, _ := lookupEnv("HOME"); home != "" {
		return filepath.Join(home, ".flame", "flame.yaml"), nil
	}
	return "", errors.New("cannot locate flame.yaml: neither FLAME_CONFIG nor HOME is set; set FLAME_CONFIG or pass --config")
}

// Load reads and parses the file at path. A missing file is an error that
// wraps [fs.ErrNotExist]. Errors in the file name the file, the line and the
// field.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(path, data)
}

// LoadOrEmpty is like [Load], but a missing file gives an empty File with
// Path set, ready to be filled in and saved.
func LoadOrEmpty(path string) (*File, error) {
	f, err := Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return &File{Path: path}, nil
	}
	return f, err
}

// Names returns the names of the contexts in file order.
func (f *File) Names() []string {
	names := make([]string, len(f.Contexts))
	for i, c := range f.Contexts {
		names[i] = c.Name
	}
	return names
}

// Context returns a copy of the named context; change it with
// [File.SetContext]. An unknown name gives an [*UnknownContextError].
func (f *File) Context(name string) (*Context, error) {
	i := f.index(name)
	if i < 0 {
		return nil, f.unknown(name)
	}
	c := f.Contexts[i].clone()
	return &c, nil
}

// Current returns a copy of the context named by current-context. When that is
// unset or names no context, the error wraps [ErrNoCurrentContext].
func (f *File) Current() (*Context, error) {
	i, err := f.current()
	if err != nil {
		return nil, err
	}
	c := f.Contexts[i].clone()
	return &c, nil
}

// SetContext adds c, or replaces the context of the same name in place.
func (f *File) SetContext(c Context) {
	c = c.clone()
	if i := f.index(c.Name); i >= 0 {
		f.Contexts[i] = c
		return
	}
	f.Contexts = append(f.Contexts, c)
}

// DeleteContext removes the named context. Deleting the current context also
// clears current-context, so that no command goes on using a context that is
// gone. An unknown name gives an [*UnknownContextError].
func (f *File) DeleteContext(name string) error {
	i := f.index(name)
	if i < 0 {
		return f.unknown(name)
	}
	f.Contexts = slices.Delete(f.Contexts, i, i+1)
	if f.CurrentContext == name {
		f.CurrentContext = ""
	}
	return nil
}

// UseContext makes the named context the current one. An unknown name gives
// an [*UnknownContextError].
func (f *File) UseContext(name string) error {
	if f.index(name) < 0 {
		return f.unknown(name)
	}
	f.CurrentContext = name
	return nil
}

// Validate checks what can be checked without the environment: that
// current-context names a context and that every endpoint parses. It reports
// all problems, each with its file, line and field.
func (f *File) Validate() error {
	var errs []error
	if len(f.Contexts) > 0 {
		if _, err := f.current(); err != nil {
			errs = append(errs, err)
		}
	}
	for i, c := range f.Contexts {
		if c.Cluster.Endpoint != "" {
			if _, err := ParseEndpoint(c.Cluster.Endpoint); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.origin(i, c.Cluster.Endpoint, "cluster", "endpoint"), err))
			}
		}
		if c.Cache != nil && c.Cache.Endpoint != "" {
			if _, err := ParseCacheEndpoint(c.Cache.Endpoint); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.origin(i, c.Cache.Endpoint, "cache", "endpoint"), err))
			}
		}
	}
	return errors.Join(errs...)
}

func (f *File) index(name string) int {
	return slices.IndexFunc(f.Contexts, func(c Context) bool { return c.Name == name })
}

func (f *File) unknown(name string) *UnknownContextError {
	return &UnknownContextError{Name: name, Available: f.Names(), File: f.Path}
}

// current returns the index of the current context.
func (f *File) current() (int, error) {
	choose := `choose one with "flmctl context use NAME"`
	if f.CurrentContext == "" {
		if len(f.Contexts) == 0 {
			return -1, fmt.Errorf("%w: %s has no contexts", ErrNoCurrentContext, f.Path)
		}
		return -1, fmt.Errorf("%w: %s sets no current-context; %s (available: %s)",
			ErrNoCurrentContext, f.Path, choose, strings.Join(f.Names(), ", "))
	}
	i := f.index(f.CurrentContext)
	if i < 0 {
		where := f.Path
		if n := f.value("current-context"); n != nil && n.Line > 0 && deref(n).Value == f.CurrentContext {
			where = fmt.Sprintf("%s:%d", f.Path, n.Line)
		}
		return -1, fmt.Errorf("%w: %s: current-context %q is not one of the contexts (%s); %s",
			ErrNoCurrentContext, where, f.CurrentContext, strings.Join(f.Names(), ", "), choose)
	}
	return i, nil
}

// origin describes where field keys of context i is set, for error messages:
// "path:line: contexts[i].cluster.endpoint". The line is left out when the
// document no longer holds value there (the File was changed after Load).
func (f *File) origin(i int, value string, keys ...string) string {
	field := fmt.Sprintf("contexts[%d].%s", i, strings.Join(keys, "."))
	n := f.value("contexts")
	if n != nil && n.Kind == yaml.SequenceNode && i < len(n.Content) {
		n = n.Content[i]
		for _, k := range keys {
			if n = valueOf(deref(n), k); n == nil {
				break
			}
		}
		if n != nil && n.Line > 0 && deref(n).Value == value {
			return fmt.Sprintf("%s:%d: %s", f.Path, n.Line, field)
		}
	}
	return f.Path + ": " + field
}

// value returns the node under key in the document's top-level mapping.
func (f *File) value(key string) *yaml.Node {
	if f.doc == nil || len(f.doc.Content) == 0 {
		return nil
	}
	return valueOf(f.doc.Content[0], key)
}

// clone returns a deep copy of c. Empty excludes become nil, as they do when
// read from a file, so that copies compare equal to what Load returns.
func (c Context) clone() Context {
	c.Cluster.TLS = clonePtr(c.Cluster.TLS)
	if c.Cache != nil {
		cache := *c.Cache
		cache.TLS = clonePtr(cache.TLS)
		c.Cache = &cache
	}
	if c.Package != nil {
		pkg := *c.Package
		pkg.Excludes = slices.Clip(slices.Clone(pkg.Excludes))
		if len(pkg.Excludes) == 0 {
			pkg.Excludes = nil
		}
		c.Package = &pkg
	}
	c.Runner = clonePtr(c.Runner)
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// orZero returns *p, or the zero T when p is nil.
func orZero[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
