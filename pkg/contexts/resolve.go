package contexts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Options are the inputs of [Resolve] that do not come from the file.
type Options struct {
	ConfigFile string                      // --config; "" means $FLAME_CONFIG, else the default path
	Context    string                      // --context; "" means current-context
	Endpoint   string                      // --endpoint; beats FLAME_ENDPOINT and the file
	LookupEnv  func(string) (string, bool) // nil means os.LookupEnv
}

// Resolved is what a client connects with: one context's settings with
// environment overrides, flags and defaults applied, and checked.
type Resolved struct {
	Name       string // the context used; "" when none
	ConfigFile string // the file read; "" when there was none

	Endpoint string // cluster endpoint, as given (see ParseEndpoint)
	CAFile   string // CA for cluster TLS; "" means the system roots

	CacheEndpoint string // cache endpoint, as given (see ParseCacheEndpoint)
	CacheCAFile   string // CA for cache TLS; "" means the system roots
	CacheStorage  string // directory shared with the cache server; "" when none

	PackageStorage  string   // where Runner puts packages; "" when not configured
	PackageExcludes []string // files Runner leaves out; nil unless PackageStorage is set
	RunnerTemplate  string   // application Runner services are based on
}

// defaultExcludes are always left out of packages, before the file's own
// excludes.
var defaultExcludes = []string{".venv", "__pycache__", ".gitignore", "*.pyc"}

// Resolve picks the config file and context and works out each setting
// (flag, else environment, else file, else default); see the package
// documentation for the rules. The endpoints are checked to parse and the CA
// files to be readable; errors say where the bad value came from: file, line
// and field, environment variable or flag.
func Resolve(opts Options) (*Resolved, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	getenv := func(key string) string {
		v, _ := lookup(key)
		return strings.TrimSpace(v)
	}

	f, found, err := openConfig(opts.ConfigFile, getenv)
	if err != nil {
		return nil, err
	}
	r := &Resolved{RunnerTemplate: DefaultRunnerTemplate}
	if found {
		r.ConfigFile = f.Path
	}
	i := -1 // the context's index in f.Contexts
	switch {
	case opts.Context != "":
		if i = f.index(opts.Context); i < 0 {
			err := f.unknown(opts.Context)
			if !found {
				err.File = ""
			}
			return nil, err
		}
	case len(f.Contexts) > 0:
		if i, err = f.current(); err != nil {
			return nil, err
		}
	}

	endpoint := setting{DefaultEndpoint, "default"}
	cacheEndpoint := setting{DefaultCacheEndpoint, "default"}
	var caFile, cacheCAFile, cacheStorage setting
	if i >= 0 {
		c := f.Contexts[i]
		r.Name = c.Name
		from := func(value string, keys ...string) setting { return setting{value, f.origin(i, value, keys...)} }
		endpoint.set(from(c.Cluster.Endpoint, "cluster", "endpoint"))
		caFile.set(from(orZero(c.Cluster.TLS).CAFile, "cluster", "tls", "ca_file"))
		cache := orZero(c.Cache)
		cacheEndpoint.set(from(cache.Endpoint, "cache", "endpoint"))
		cacheCAFile.set(from(orZero(cache.TLS).CAFile, "cache", "tls", "ca_file"))
		cacheStorage.set(from(cache.Storage, "cache", "storage"))
		if pkg := orZero(c.Package); pkg.Storage != "" {
			r.PackageStorage = pkg.Storage
			r.PackageExcludes = union(defaultExcludes, pkg.Excludes)
		}
		if t := orZero(c.Runner).Template; t != "" {
			r.RunnerTemplate = t
		}
	}

	endpoint.set(setting{getenv(EnvEndpoint), EnvEndpoint})
	cacheEndpoint.set(setting{getenv(EnvCacheEndpoint), EnvCacheEndpoint})
	cacheStorage.set(setting{getenv(EnvCacheStorage), EnvCacheStorage})
	if ca := (setting{getenv(EnvCAFile), EnvCAFile}); ca.value != "" {
		if caFile.value == "" {
			caFile = ca
		}
		if cacheCAFile.value == "" {
			cacheCAFile = ca
		}
	}
	endpoint.set(setting{strings.TrimSpace(opts.Endpoint), "--endpoint"})

	if _, err := ParseEndpoint(endpoint.value); err != nil {
		return nil, fmt.Errorf("%s: %w", endpoint.from, err)
	}
	if _, err := ParseCacheEndpoint(cacheEndpoint.value); err != nil {
		return nil, fmt.Errorf("%s: %w", cacheEndpoint.from, err)
	}
	for _, ca := range []setting{caFile, cacheCAFile} {
		if err := ca.checkReadable(); err != nil {
			return nil, err
		}
	}

	r.Endpoint, r.CAFile = endpoint.value, caFile.value
	r.CacheEndpoint, r.CacheCAFile, r.CacheStorage = cacheEndpoint.value, cacheCAFile.value, cacheStorage.value
	return r, nil
}

// openConfig loads the file named by --config or $FLAME_CONFIG, which must
// exist, else $HOME/.flame/flame.yaml, which may be missing. found reports
// whether a file was read; without one f is empty.
func openConfig(flag string, getenv func(string) string) (f *File, found bool, err error) {
	path, from := flag, "--config"
	if path == "" {
		path, from = getenv(EnvConfig), EnvConfig
	}
	if path != "" {
		f, err := Load(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, fmt.Errorf("config file %s (set by %s): %w", path, from, fs.ErrNotExist)
		}
		return f, err == nil, err
	}
	home := getenv("HOME")
	if home == "" {
		return &File{}, false, nil // nowhere to look; environment and defaults only
	}
	path = filepath.Join(home, ".flame", "flame.yaml")
	f, err = Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{Path: path}, false, nil
	}
	return f, err == nil, err
}

// setting is a value and where it came from, for error messages.
type setting struct {
	value string
	from  string // "path:line: field", an environment variable, a flag or "default"
}

// set replaces s with o unless o is empty.
func (s *setting) set(o setting) {
	if o.value != "" {
		*s = o
	}
}

// checkReadable checks that the CA file s names, if any, can be read.
func (s setting) checkReadable() error {
	if s.value == "" {
		return nil
	}
	_, err := os.ReadFile(s.value)
	if err == nil {
		return nil
	}
	var perr *fs.PathError
	if errors.As(err, &perr) {
		err = perr.Err
	}
	return fmt.Errorf("%s: cannot read CA file %s: %w", s.from, s.value, err)
}

// union returns a followed by the items of b not in it, without duplicates.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
