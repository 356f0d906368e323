// Package cmdutil holds what every flmctl command shares: the Factory that
// hands out lazily built dependencies, the global flag values, the error
// vocabulary that Main maps to exit codes, and flag and argument helpers.
package cmdutil

import (
	"context"
	"errors"
	"sync"

	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/cache"
	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/contexts"
)

// GlobalOptions holds the values of the root command's persistent flags.
type GlobalOptions struct {
	ConfigFile string // --config: the only config file to read
	Context    string // --context: the context to use instead of current-context
	Endpoint   string // --endpoint: the cluster endpoint, beating environment and file
	Output     string // -o/--output: "" means the command's default format
}

// BuildInfo describes the running binary.
type BuildInfo struct {
	Version   string // release version, "dev" for untagged builds
	Commit    string // VCS revision, "unknown" when not recorded
	GoVersion string // Go toolchain, e.g. "go1.26.8"
	Platform  string // GOOS/GOARCH
}

// Factory gives commands their dependencies. The expensive ones are
// functions called only by the commands that need them: a command that never
// calls Client never dials.
//
// A Factory serves one invocation; build a new one per run (tests do).
type Factory struct {
	IOStreams *iostreams.IOStreams
	// LookupEnv is the only way commands read the environment, so that tests
	// can run commands in-process with a fake environment.
	LookupEnv func(string) (string, bool)
	// ExecutableName is the name the program was started as, for messages
	// that tell the user what to run next.
	ExecutableName string
	// Build describes the binary.
	Build BuildInfo
	// Globals holds the persistent flag values; the root command fills it in.
	Globals *GlobalOptions

	// Config resolves the configuration from Globals, the environment and
	// flame.yaml, once; later calls return the first result.
	Config func() (*contexts.Resolved, error)
	// Client connects to the cluster of Config, once; later calls return the
	// same connection. Close closes it.
	Client func(ctx context.Context) (*client.Connection, error)
	// Cache returns a client of the object cache of Config (its
	// cache.endpoint after FLAME_CACHE_ENDPOINT, and its CA file), once;
	// later calls return the same client. It dials on first use. Close
	// closes it.
	Cache func() (*cache.Client, error)

	mu    sync.Mutex
	conn  *client.Connection
	cache *cache.Client
}

// New returns a Factory over ios whose Config and Client follow Globals and
// lookupEnv (nil means no environment at all).
func New(ios *iostreams.IOStreams, lookupEnv func(string) (string, bool), build BuildInfo) *Factory {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	f := &Factory{
		IOStreams:      ios,
		LookupEnv:      lookupEnv,
		ExecutableName: "flmctl",
		Build:          build,
		Globals:        &GlobalOptions{},
	}
	f.Config = sync.OnceValues(func() (*contexts.Resolved, error) {
		return contexts.Resolve(f.ContextOptions(""))
	})
	f.Client = f.dial
	f.Cache = f.cacheClient
	return f
}

// ContextOptions returns the options Resolve needs for the global flags, with
// name (when not empty) instead of --context.
func (f *Factory) ContextOptions(name string) contexts.Options {
	if name == "" {
		name = f.Globals.Context
	}
	return contexts.Options{
		ConfigFile: f.Globals.ConfigFile,
		Context:    name,
		Endpoint:   f.Globals.Endpoint,
		LookupEnv:  f.LookupEnv,
	}
}

// ConfigPath returns the config file commands that edit flame.yaml work on:
// --config, else $FLAME_CONFIG, else $HOME/.flame/flame.yaml.
func (f *Factory) ConfigPath() (string, error) {
	if f.Globals.ConfigFile != "" {
		return f.Globals.ConfigFile, nil
	}
	return contexts.DefaultPath(f.LookupEnv)
}

func (f *Factory) dial(ctx context.Context) (*client.Connection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn != nil {
		return f.conn, nil
	}
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	conn, err := client.ConnectResolved(ctx, cfg)
	if err != nil {
		return nil, err
	}
	f.conn = conn
	return conn, nil
}

func (f *Factory) cacheClient() (*cache.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cache != nil {
		return f.cache, nil
	}
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	c, err := cache.NewResolved(cfg)
	if err != nil {
		return nil, err
	}
	f.cache = c
	return c, nil
}

// Close closes the connection made by Client and the cache client made by
// Cache, if any.
func (f *Factory) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	if f.conn != nil {
		errs = append(errs, f.conn.Close())
		f.conn = nil
	}
	if f.cache != nil {
		errs = append(errs, f.cache.Close())
		f.cache = nil
	}
	return errors.Join(errs...)
}
