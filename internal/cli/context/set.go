package context

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/contexts"
)

// SetOptions are the inputs of "flmctl context set". A nil pointer field
// means the flag was not given: the context keeps its value.
type SetOptions struct {
	IO         *iostreams.IOStreams
	ConfigPath func() (string, error)

	Name          string
	Endpoint      *string
	CacheEndpoint *string
	CAFile        *string
	CacheStorage  *string
	Current       bool
}

// NewCmdSet returns "flmctl context set". runF, when not nil, replaces the
// run function.
func NewCmdSet(f *cmdutil.Factory, runF func(*SetOptions) error) *cobra.Command {
	opts := &SetOptions{IO: f.IOStreams, ConfigPath: f.ConfigPath}
	var endpoint, cacheEndpoint, caFile, cacheStorage string
	cmd := &cobra.Command{
		Use:   "set <name> [--endpoint <url>] [flags]",
		Short: "Create a context or change its settings",
		Long: `Create the named context, or change the settings given by flags on an existing
one; settings without a flag keep their value, and an empty value removes a
setting. A new context needs --endpoint.

Cluster endpoints are http://, https:// or unix:// URLs; cache endpoints are
grpc://, grpcs:// or grpc+tls:// URLs. --ca-file is stored as an absolute path
and is used for both the cluster and the cache.

When the file has no current context yet, the context becomes it; --current
makes it the current context in any case. The config file and its directory
are created when missing; comments in an existing file are kept.`,
		Example: `  flmctl context set local --endpoint http://127.0.0.1:8080
  flmctl context set prod \
    --endpoint https://flame.example.com:8080 \
    --cache-endpoint grpcs://flame.example.com:9090 \
    --ca-file ./ca.crt \
    --current`,
		Args:              cmdutil.ExactArgs(1, "context set needs the name of the context to create or change"),
		ValidArgsFunction: completeNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = trimKind(args[0])
			if opts.Name == "" {
				return cmdutil.FlagErrorf("a context name must not be empty")
			}
			changed := func(name string, v *string) *string {
				if cmd.Flags().Changed(name) {
					return v
				}
				return nil
			}
			opts.Endpoint = changed("endpoint", &endpoint)
			opts.CacheEndpoint = changed("cache-endpoint", &cacheEndpoint)
			opts.CAFile = changed("ca-file", &caFile)
			opts.CacheStorage = changed("cache-storage", &cacheStorage)
			if err := opts.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return setRun(opts)
		},
	}
	fl := cmd.Flags()
	// This --endpoint shadows the global flag of the same name: here it is the
	// value to store, not the endpoint to connect to.
	fl.StringVar(&endpoint, "endpoint", "", "cluster `URL` to store, e.g. http://127.0.0.1:8080")
	fl.StringVar(&cacheEndpoint, "cache-endpoint", "", "object cache `URL` to store, e.g. grpc://127.0.0.1:9090")
	fl.StringVar(&caFile, "ca-file", "", "CA certificate `file` that signed the cluster's and cache's TLS certificates")
	fl.StringVar(&cacheStorage, "cache-storage", "", "local `directory` of the object cache")
	fl.BoolVar(&opts.Current, "current", false, "also make the context the current one")
	_ = cmd.RegisterFlagCompletionFunc("endpoint", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("cache-endpoint", cobra.NoFileCompletions)
	_ = cmd.MarkFlagDirname("cache-storage")
	return cmd
}

// validate checks the flag values without touching the file system.
func (o *SetOptions) validate() error {
	if o.Endpoint != nil && *o.Endpoint != "" {
		if _, err := contexts.ParseEndpoint(*o.Endpoint); err != nil {
			return cmdutil.FlagErrorf("invalid --endpoint: %w", err)
		}
	}
	if o.CacheEndpoint != nil && *o.CacheEndpoint != "" {
		if _, err := contexts.ParseCacheEndpoint(*o.CacheEndpoint); err != nil {
			return cmdutil.FlagErrorf("invalid --cache-endpoint: %w", err)
		}
	}
	return nil
}

func setRun(opts *SetOptions) error {
	file, err := loadFile(opts.ConfigPath)
	if err != nil {
		return err
	}
	if opts.CAFile != nil && *opts.CAFile != "" {
		abs, err := filepath.Abs(*opts.CAFile)
		if err != nil {
			return fmt.Errorf("--ca-file: %w", err)
		}
		if _, err := os.Stat(abs); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return cmdutil.FlagErrorf("--ca-file %s does not exist", abs)
			}
			return fmt.Errorf("--ca-file: %w", err)
		}
		*opts.CAFile = abs
	}

	c, err := file.Context(opts.Name)
	created := false
	if err != nil {
		var unknown *contexts.UnknownContextError
		if !errors.As(err, &unknown) {
			return err
		}
		if opts.Endpoint == nil || *opts.Endpoint == "" {
			return cmdutil.FlagErrorf("context %q does not exist yet; creating it needs --endpoint", opts.Name)
		}
		c, created = &contexts.Context{Name: opts.Name}, true
	}
	apply(c, opts)
	file.SetContext(*c)

	switched := false
	if opts.Current || file.CurrentContext == "" {
		switched = file.CurrentContext != opts.Name
		file.CurrentContext = opts.Name
	}
	if err := file.Save(); err != nil {
		return err
	}
	verb := "modified"
	if created {
		verb = "created"
	}
	fmt.Fprintf(opts.IO.ErrOut, "Context %q %s in %s.\n", opts.Name, verb, file.Path)
	if switched {
		fmt.Fprintf(opts.IO.ErrOut, "Switched to context %q.\n", opts.Name)
	}
	return nil
}

// apply copies the given flag values into c; empty values remove settings,
// and sections left empty are removed too.
func apply(c *contexts.Context, o *SetOptions) {
	if o.Endpoint != nil {
		c.Cluster.Endpoint = *o.Endpoint
	}
	if o.CAFile != nil {
		c.Cluster.TLS = withCAFile(c.Cluster.TLS, *o.CAFile)
	}
	if o.CacheEndpoint != nil || o.CacheStorage != nil || (o.CAFile != nil && c.Cache != nil) {
		cache := c.Cache
		if cache == nil {
			cache = &contexts.CacheConfig{}
		}
		if o.CacheEndpoint != nil {
			cache.Endpoint = *o.CacheEndpoint
		}
		if o.CacheStorage != nil {
			cache.Storage = *o.CacheStorage
		}
		if o.CAFile != nil {
			cache.TLS = withCAFile(cache.TLS, *o.CAFile)
		}
		if *cache == (contexts.CacheConfig{}) {
			cache = nil
		}
		c.Cache = cache
	}
}

func withCAFile(tls *contexts.TLSConfig, caFile string) *contexts.TLSConfig {
	if caFile == "" {
		return nil
	}
	if tls == nil {
		tls = &contexts.TLSConfig{}
	}
	tls.CAFile = caFile
	return tls
}
