package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/contexts"
	"github.com/flmctl/flmctl/pkg/local"
)

// Defaults of "flmctl cluster start": upstream's ports.
const (
	DefaultListen = "127.0.0.1:8080"
	// DefaultCacheListen is the object cache's address.
	DefaultCacheListen = "127.0.0.1:9090"
	// localContext is the context written into flame.yaml.
	localContext = "local"
)

// StartOptions are the inputs of "flmctl cluster start".
type StartOptions struct {
	IO         *iostreams.IOStreams
	Factory    *cmdutil.Factory
	ConfigPath func() (string, error)

	Listen          string
	BackendListen   string
	CacheListen     string
	CacheAdvertise  string
	CacheStorage    string
	CacheCompress   bool
	CacheMaxMemory  string
	CacheMaxObjects int
	DataDir         string
	Storage         string
	InstanceWire    string
	LogLevel        string
	Detach          bool
	Join            string
	Format          string

	// exitOnSecondSignal makes a second Ctrl-C end the process at once
	// (the real command; not in-process tests).
	exitOnSecondSignal bool
}

// NewCmdStart returns "flmctl cluster start". runF, when not nil, replaces
// the run function.
func NewCmdStart(f *cmdutil.Factory, runF func(context.Context, *StartOptions) error) *cobra.Command {
	opts := &StartOptions{IO: f.IOStreams, Factory: f, ConfigPath: f.ConfigPath, exitOnSecondSignal: runF == nil}
	cmd := &cobra.Command{
		Use:   "start [--detach]",
		Short: "Start a Flame cluster on this machine",
		Long: `Start a single-node Flame cluster and print its endpoints. It runs in the
foreground until Ctrl-C (instances are stopped, the store is closed; a second
Ctrl-C exits at once), or in the background with --detach ("flmctl cluster
stop" ends it; its log is cluster.log in the data directory).

The frontend (clients) listens on --listen, the backend (executor managers on
other machines) on the next port unless --backend-listen says otherwise. With
--storage sqlite (the default) applications, sessions, tasks and results
survive a restart; tasks that were running are queued again.

When flame.yaml has no context named "local", one pointing at this cluster is
added (and made current if there is none).

With --join, only an executor manager runs here, as one more node of the
cluster whose backend endpoint is given; it works with upstream's session
manager too.`,
		Example: `  flmctl cluster start
  flmctl cluster start --detach --listen 127.0.0.1:9080 --data-dir /tmp/flame
  flmctl cluster start --storage none --log-level info
  flmctl cluster start --join http://10.0.0.5:8081`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.Format, err = cmdutil.OutputFormat(cmd); err != nil {
				return err
			}
			if opts.LogLevel != "" {
				if _, err := parseLevel(opts.LogLevel); err != nil {
					return err
				}
			}
			if err := cacheFromEnv(cmd, f.LookupEnv, opts); err != nil {
				return err
			}
			if _, err := parseSize(opts.CacheMaxMemory); err != nil {
				return err
			}
			if opts.Join != "" {
				if bad := joinConflicts(cmd, opts); len(bad) > 0 {
					return cmdutil.FlagErrorf("--join runs only a node agent: it takes --data-dir, --log-level, --cache-advertise and --instance-wire, not %s", strings.Join(bad, ", "))
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.Join != "" {
				return joinRun(cmd.Context(), opts)
			}
			if opts.Detach {
				return detachRun(cmd.Context(), opts)
			}
			return startRun(cmd.Context(), opts)
		},
	}
	cmdutil.EnableOutput(cmd, "", "json", "yaml")
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", DefaultListen, "frontend `address` (host:port) for clients")
	fl.StringVar(&opts.BackendListen, "backend-listen", "", "backend `address` for remote executor managers (default: the frontend port + 1; \"off\" disables it)")
	fl.StringVar(&opts.CacheListen, "cache-listen", DefaultCacheListen, "object cache `address` (host:port; \"off\" runs no cache)")
	fl.StringVar(&opts.CacheAdvertise, "cache-advertise", "", "cache `endpoint` given to clients and instances (default grpc://<cache-listen>; with --join, the cluster's cache, default port 9090 on the backend's host)")
	fl.StringVar(&opts.CacheStorage, "cache-storage", "", "`directory` the cache writes objects to (default <data-dir>/cache; \"none\" keeps them in memory only)")
	fl.StringVar(&opts.CacheMaxMemory, "cache-max-memory", "", "`size` of cached objects kept in memory, e.g. 512M or 4G (binary units; default $FLAME_CACHE_MAX_MEMORY, else 1G; 0 for no limit)")
	fl.IntVar(&opts.CacheMaxObjects, "cache-max-objects", 0, "most cached `objects` kept in memory (default $FLAME_CACHE_MAX_OBJECTS, else no limit)")
	fl.BoolVar(&opts.CacheCompress, "cache-compress", false, "send cache downloads ZSTD-compressed, as upstream does (helps compressible data on slow networks)")
	fl.StringVar(&opts.DataDir, "data-dir", "", "`directory` for the store, logs and executors (default ~/.flame/cluster)")
	cmdutil.StringEnumFlag(cmd, &opts.Storage, "storage", "", local.StorageSQLite, []string{local.StorageSQLite, local.StorageNone}, "where state is kept")
	cmdutil.StringEnumFlag(cmd, &opts.InstanceWire, "instance-wire", "", instanceWireAuto, []string{instanceWireAuto, instanceWireGRPC},
		"`wire` to instances: auto uses the framed one a pkg/service instance offers (far cheaper per task), grpc calls every instance over gRPC")
	cmdutil.StringEnumFlag(cmd, &opts.LogLevel, "log-level", "", "warn", []string{"debug", "info", "warn", "error"}, "server log `level` on stderr")
	fl.BoolVarP(&opts.Detach, "detach", "d", false, "run in the background; stop it with \"flmctl cluster stop\"")
	fl.StringVar(&opts.Join, "join", "", "run only a node agent for the cluster whose backend is at `URL` (e.g. http://10.0.0.5:8081)")
	return cmd
}

// Values of --instance-wire.
const (
	instanceWireAuto = "auto"
	instanceWireGRPC = "grpc"
)

// joinConflicts returns the flags given with --join that only the cluster
// itself takes.
func joinConflicts(cmd *cobra.Command, opts *StartOptions) []string {
	var bad []string
	for _, name := range []string{"listen", "backend-listen", "cache-listen", "cache-storage",
		"cache-max-memory", "cache-max-objects", "cache-compress", "storage", "detach", cmdutil.OutputFlag} {
		changed := cmd.Flags().Changed(name)
		if name == "storage" {
			changed = opts.Storage != local.StorageSQLite
		}
		if changed {
			bad = append(bad, "--"+name)
		}
	}
	return bad
}

// cacheFromEnv applies upstream's cache variables where the flags are not
// given: FLAME_CACHE_MAX_MEMORY, FLAME_CACHE_EVICTION_POLICY (none: no
// memory limit) and FLAME_CACHE_MAX_OBJECTS.
func cacheFromEnv(cmd *cobra.Command, lookupEnv func(string) (string, bool), opts *StartOptions) error {
	if opts.CacheMaxMemory == "" {
		if v, ok := lookupEnv("FLAME_CACHE_MAX_MEMORY"); ok {
			opts.CacheMaxMemory = v
		}
	}
	// Upstream's eviction policy "none" keeps everything in memory.
	if v, ok := lookupEnv("FLAME_CACHE_EVICTION_POLICY"); ok && v != "" {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "lru":
		case "none":
			if !cmd.Flags().Changed("cache-max-memory") {
				opts.CacheMaxMemory = "0"
			}
		default:
			return cmdutil.FlagErrorf("invalid FLAME_CACHE_EVICTION_POLICY %q: use lru or none", v)
		}
	}
	if !cmd.Flags().Changed("cache-max-objects") {
		if v, ok := lookupEnv("FLAME_CACHE_MAX_OBJECTS"); ok && v != "" {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 {
				return cmdutil.FlagErrorf("invalid FLAME_CACHE_MAX_OBJECTS %q: use a whole number (0 for no limit)", v)
			}
			opts.CacheMaxObjects = n
		}
	}
	if opts.CacheMaxObjects < 0 {
		return cmdutil.FlagErrorf("invalid --cache-max-objects %d: use a whole number (0 for no limit)", opts.CacheMaxObjects)
	}
	return nil
}

// parseSize reads a byte size as upstream's cache configuration writes
// it: a number with an optional K, M, G or T suffix in binary units ("1G"
// is 1 GiB; "KiB", "MB" and the like are accepted too). "" means 1 GiB, 0 no
// limit (returned as -1).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, nil
	}
	u := strings.ToUpper(t)
	u = strings.TrimSuffix(strings.TrimSuffix(u, "B"), "I")
	shift := 0
	if n := len(u); n > 0 {
		switch u[n-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		}
		if shift > 0 {
			u = u[:n-1]
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(u), 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || n*float64(int64(1)<<shift) > math.MaxInt64/2 {
		return 0, cmdutil.FlagErrorf("invalid cache memory size %q: use a number with an optional K, M, G or T suffix, e.g. 512M or 4G", s)
	}
	if n == 0 {
		return -1, nil
	}
	return int64(n * float64(int64(1)<<shift)), nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, cmdutil.FlagErrorf("invalid --log-level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

func startRun(ctx context.Context, opts *StartOptions) error {
	dir, err := resolveDataDir(opts.Factory, opts.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the data directory: %w", err)
	}
	if st, err := readState(dir); err == nil {
		return fmt.Errorf("a cluster is already running with data directory %s (pid %d, %s); stop it with \"flmctl cluster stop\" or choose another --data-dir", dir, st.PID, st.Frontend)
	}
	self, err := selfExecutable()
	if err != nil {
		return fmt.Errorf("find this program for the built-in services: %w", err)
	}
	level, _ := parseLevel(opts.LogLevel)
	maxMem, err := parseSize(opts.CacheMaxMemory)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: level}))
	c, err := local.Start(ctx, local.Options{
		DataDir:          dir,
		Storage:          opts.Storage,
		ListenAddr:       opts.Listen,
		BackendAddr:      opts.BackendListen,
		CacheAddr:        opts.CacheListen,
		CacheAdvertise:   opts.CacheAdvertise,
		CacheStorage:     opts.CacheStorage,
		CacheCompress:    opts.CacheCompress,
		CacheMaxMemory:   maxMem,
		CacheMaxObjects:  opts.CacheMaxObjects,
		Logger:           logger,
		InstanceGRPCOnly: opts.InstanceWire == instanceWireGRPC,
		// flmping and flmexec are served by this program.
		BuiltinCommand: []string{self, "serve", "--builtin"},
	})
	if err != nil {
		return err
	}
	defer c.Stop()
	ep := c.Endpoints()
	st := state{PID: os.Getpid(), Frontend: ep.Frontend, Backend: ep.Backend, Cache: ep.Cache, DataDir: dir, Storage: opts.Storage}
	if err := writeState(dir, st); err != nil {
		return fmt.Errorf("record the running cluster: %w", err)
	}
	defer os.Remove(filepath.Join(dir, stateFile))

	if msg, err := ensureLocalContext(opts.ConfigPath, ep.Frontend, ep.Cache); err != nil {
		fmt.Fprintf(opts.IO.ErrOut, "warning: could not add a %q context to flame.yaml: %v\n", localContext, err)
	} else if msg != "" {
		fmt.Fprintln(opts.IO.ErrOut, msg)
	}
	if err := printState(opts.IO.Out, opts.Format, st); err != nil {
		return err
	}
	if opts.Format == "" {
		fmt.Fprintln(opts.IO.ErrOut, "Press Ctrl-C to stop.")
	}

	<-ctx.Done()
	if opts.exitOnSecondSignal {
		second := make(chan os.Signal, 1)
		signal.Notify(second, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(second)
		go func() {
			if _, ok := <-second; ok {
				fmt.Fprintln(os.Stderr, "interrupted again: exiting without a clean stop")
				os.Exit(130)
			}
		}()
	}
	fmt.Fprintln(opts.IO.ErrOut, "Stopping the cluster...")
	return nil // the deferred Stop runs; the interrupt was the user's wish
}

// printState writes the endpoints: a short banner, or the state object.
func printState(w io.Writer, format string, st state) error {
	if format != "" {
		return printers.WriteStructured(w, format, st)
	}
	fmt.Fprintf(w, "Flame cluster running (pid %d)\n", st.PID)
	fmt.Fprintf(w, "  frontend:  %s\n", st.Frontend)
	if st.Backend != "" {
		fmt.Fprintf(w, "  backend:   %s\n", st.Backend)
	}
	if st.Cache != "" {
		fmt.Fprintf(w, "  cache:     %s\n", st.Cache)
	}
	fmt.Fprintf(w, "  data:      %s (%s)\n", st.DataDir, st.Storage)
	return nil
}

// ensureLocalContext adds a "local" context for the cluster unless the
// config file has one, and returns what it did.
func ensureLocalContext(configPath func() (string, error), frontend, cache string) (string, error) {
	path, err := configPath()
	if err != nil {
		return "", err
	}
	f, err := contexts.LoadOrEmpty(path)
	if err != nil {
		return "", err
	}
	if _, err := f.Context(localContext); err == nil {
		return "", nil
	}
	c := contexts.Context{Name: localContext, Cluster: contexts.ClusterConfig{Endpoint: frontend}}
	if cache != "" {
		c.Cache = &contexts.CacheConfig{Endpoint: cache}
	}
	f.SetContext(c)
	made := ""
	if f.CurrentContext == "" {
		if err := f.UseContext(localContext); err != nil {
			return "", err
		}
		made = " and made it the current context"
	}
	if err := f.Save(); err != nil {
		return "", err
	}
	return fmt.Sprintf("Added context %q (%s) to %s%s.", localContext, frontend, path, made), nil
}

// detachRun starts the cluster in a new session with its output in the log
// file, waits until it is ready, and returns.
func detachRun(ctx context.Context, opts *StartOptions) error {
	dir, err := resolveDataDir(opts.Factory, opts.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the data directory: %w", err)
	}
	if st, err := readState(dir); err == nil {
		return fmt.Errorf("a cluster is already running with data directory %s (pid %d, %s); stop it with \"flmctl cluster stop\"", dir, st.PID, st.Frontend)
	}
	exe, err := selfExecutable()
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, logFile)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open the log file: %w", err)
	}
	defer logf.Close()
	args := []string{"cluster", "start", "--listen", opts.Listen, "--data-dir", dir, "--storage", opts.Storage, "--log-level", opts.LogLevel}
	args = append(args, "--cache-listen", opts.CacheListen)
	if opts.InstanceWire == instanceWireGRPC {
		args = append(args, "--instance-wire", instanceWireGRPC)
	}
	if opts.CacheAdvertise != "" {
		args = append(args, "--cache-advertise", opts.CacheAdvertise)
	}
	if opts.CacheStorage != "" {
		args = append(args, "--cache-storage", opts.CacheStorage)
	}
	if opts.CacheCompress {
		args = append(args, "--cache-compress")
	}
	if opts.CacheMaxMemory != "" {
		args = append(args, "--cache-max-memory", opts.CacheMaxMemory)
	}
	if opts.CacheMaxObjects > 0 {
		args = append(args, "--cache-max-objects", strconv.Itoa(opts.CacheMaxObjects))
	}
	if opts.BackendListen != "" {
		args = append(args, "--backend-listen", opts.BackendListen)
	}
	if g := opts.Factory.Globals; g.ConfigFile != "" {
		args = append([]string{"--config", g.ConfigFile}, args...)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the cluster process: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if st, err := readState(dir); err == nil && st.PID == cmd.Process.Pid {
			if err := printState(opts.IO.Out, opts.Format, st); err != nil {
				return err
			}
			if opts.Format == "" {
				fmt.Fprintf(opts.IO.ErrOut, "Running in the background; log: %s; stop it with \"flmctl cluster stop\".\n", logPath)
			}
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the cluster process exited (%v) before it was ready; the end of %s:\n%s", err, logPath, tail(logPath, 20))
		case <-deadline:
			_ = cmd.Process.Kill()
			return fmt.Errorf("the cluster was not ready within 60s; see %s", logPath)
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
