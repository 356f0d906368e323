// Package server runs a complete single-node Flame in one process: the
// session manager (Frontend and Backend gRPC services, scheduler, store)
// an executor manager with the host shim, and the object cache (Arrow
// Flight).
//
// It installs no signal handlers, never exits the process and never prints:
// it logs through Options.Logger. pkg/local is its public face for Go
// programs; `flmctl cluster start` is the command-line one.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/flmctl/flmctl/internal/objectcache"
	"github.com/flmctl/flmctl/internal/server/executor"
	"github.com/flmctl/flmctl/internal/server/sessionmgr"
	"github.com/flmctl/flmctl/internal/server/store"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// MaxMessageSize is the largest gRPC message the cluster accepts (spec
// §18.19); bigger inputs belong in the object cache.
const MaxMessageSize = 64 << 20

// Storage kinds.
const (
	StorageSQLite = "sqlite"
	StorageNone   = "none"
)

// Options configure a cluster. The zero value is a usable in-memory cluster
// on free loopback ports with a temporary data directory.
type Options struct {
	// DataDir holds the store and the executors' working directories. ""
	// means a temporary directory that Stop removes.
	DataDir string
	// Storage is StorageSQLite (durable, <DataDir>/flame.db) or StorageNone
	// (memory only). "" means StorageNone when DataDir is "" and
	// StorageSQLite otherwise.
	Storage string
	// ListenAddr is the Frontend address; "" means 127.0.0.1:0.
	ListenAddr string
	// BackendAddr is the Backend address for executor managers on other
	// machines. "" means the Frontend port + 1 when ListenAddr has a fixed
	// port, else a free port on the Frontend's host; "off" disables it.
	BackendAddr string
	// CacheAddr is the object cache's address; "" means a free port on
	// 127.0.0.1, "off" runs no cache.
	CacheAddr string
	// CacheAdvertise is the cache endpoint put into object references and
	// given to instances, for when clients reach the cache by another
	// address than it listens on; "" means grpc://<the bound address>.
	CacheAdvertise string
	// CacheStorage is where cached objects are written through to: "" means
	// <DataDir>/cache, "none" keeps them in memory only, anything else is a
	// directory.
	CacheStorage string
	// CacheMaxMemory is the byte budget of objects the cache holds in
	// memory; 0 means 1 GiB, negative means no limit.
	CacheMaxMemory int64
	// CacheMaxObjects bounds the objects the cache holds in memory; 0
	// means no bound.
	CacheMaxObjects int
	// CacheCompress sends downloads ZSTD-compressed, as upstream's cache
	// does: worth it for compressible data on a slow network, a loss on
	// loopback (see objectcache.Options.Compress).
	CacheCompress bool
	// Logger receives every component's logs; nil discards them.
	Logger *slog.Logger
	// ResReq is the default session resource requirement; nil means 1 CPU
	// and 1 GiB.
	ResReq *flamev1.ResourceRequirement
	// Node overrides the measured capacity of the embedded node.
	Node *flamev1.ResourceRequirement
	// MaxExecutors caps the executors of each node; 0 means twice the
	// node's CPUs, at least 4 (sessions that request no CPU would otherwise
	// get a process per pending task); negative means no cap.
	MaxExecutors int
	// BuiltinCommand starts the built-in services: the service name is
	// appended as the last argument. nil means this executable with
	// "serve --builtin" (right when the executable is flmctl).
	BuiltinCommand []string
	// Env is the environment of instance processes; nil means os.Environ().
	Env []string
	// SocketDir holds instance sockets; "" means $FLAME_SOCKET_DIR, else a
	// short private directory.
	SocketDir string
	// ScheduleInterval, SocketWait and StopGrace tune the components; 0
	// means their defaults.
	ScheduleInterval time.Duration
	SocketWait       time.Duration
	StopGrace        time.Duration
	// InstanceGRPCOnly: see executor.Options.GRPCOnly.
	InstanceGRPCOnly bool
}

// Endpoints are the URLs of a running cluster.
type Endpoints struct {
	// Frontend is the client endpoint, e.g. "http://127.0.0.1:8080".
	Frontend string
	// Backend is the executor-manager endpoint, "" when disabled.
	Backend string
	// Cache is the object cache endpoint, e.g. "grpc://127.0.0.1:9090";
	// "" when the cache is off.
	Cache string
}

// Server is a running cluster.
type Server struct {
	opts    Options
	log     *slog.Logger
	dataDir string
	ownData bool
	// ownSockDir is the socket directory Stop removes ("" when none).
	ownSockDir string
	st         store.Store
	mgr        *sessionmgr.Manager
	exec       *executor.Manager
	grpcFront  *grpc.Server
	grpcBack   *grpc.Server
	grpcCache  *grpc.Server
	cache      *objectcache.Cache
	endpoints  Endpoints
	wg         sync.WaitGroup
	stopOnce   sync.Once
}

// Start brings a cluster up and returns once it accepts requests. On error
// everything it started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	s := &Server{opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := s.openStore(ctx); err != nil {
		return nil, err
	}
	s.mgr, err = sessionmgr.New(ctx, sessionmgr.Options{
		Store:               s.st,
		Logger:              s.log.With("component", "session-manager"),
		ResReq:              opts.ResReq,
		ScheduleInterval:    opts.ScheduleInterval,
		MaxExecutorsPerNode: opts.MaxExecutors,
	})
	if err != nil {
		return nil, err
	}
	s.mgr.Start()
	if err := s.registerDefaultApps(ctx); err != nil {
		return nil, err
	}
	if err := s.listen(); err != nil {
		return nil, err
	}
	if err := s.startCache(); err != nil {
		return nil, err
	}
	if err := s.startExecutor(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) openStore(ctx context.Context) error {
	s.dataDir = s.opts.DataDir
	storage := s.opts.Storage
	if s.dataDir == "" {
		dir, err := os.MkdirTemp("", "flame-cluster-")
		if err != nil {
			return fmt.Errorf("create a data directory: %w", err)
		}
		s.dataDir, s.ownData = dir, true
		if storage == "" {
			storage = StorageNone
		}
	} else if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return fmt.Errorf("create the data directory: %w", err)
	}
	switch storage {
	case "", StorageSQLite:
		st, err := store.OpenSQLite(filepath.Join(s.dataDir, "flame.db"))
		if err != nil {
			return fmt.Errorf("open the store in %s: %w", s.dataDir, err)
		}
		s.st = st
	case StorageNone:
		// Nothing is persisted: the session manager keeps state in memory.
	default:
		return fmt.Errorf("unknown storage %q: use %q or %q", storage, StorageSQLite, StorageNone)
	}
	_ = ctx
	return nil
}

// listen binds the Frontend and Backend and starts serving them.
func (s *Server) listen() error {
	opts := append(sessionmgr.ServerOptions(),
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
		// Fixed flow-control windows turn off grpc-go's bandwidth probing:
		// it sends up to one ping (and allocates) per call that carries data, which
		// measurably slows small tasks. 4 MiB per stream and 16 MiB per
		// connection still let large inputs stream on a slow link.
		grpc.InitialWindowSize(4<<20),
		grpc.InitialConnWindowSize(16<<20),
		// Calls run on a pool of goroutines whose stacks have grown,
		// rather than a fresh goroutine per call (more are started when
		// all are busy, as with long WatchTask streams).
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	)
	front, err := listenTCP(s.opts.ListenAddr, "frontend", "--listen")
	if err != nil {
		return err
	}
	s.grpcFront = grpc.NewServer(opts...)
	s.mgr.RegisterFrontend(s.grpcFront)
	s.endpoints.Frontend = "http://" + front.Addr().String()
	s.serve(s.grpcFront, front)

	backAddr := s.opts.BackendAddr
	if backAddr == "off" {
		return nil
	}
	if backAddr == "" {
		host, port, _ := net.SplitHostPort(front.Addr().String())
		p, _ := strconv.Atoi(port)
		if _, want, _ := net.SplitHostPort(s.opts.ListenAddr); want != "" && want != "0" {
			backAddr = net.JoinHostPort(host, strconv.Itoa(p+1))
		} else {
			backAddr = net.JoinHostPort(host, "0")
		}
	}
	back, err := listenTCP(backAddr, "backend", "--backend-listen")
	if err != nil {
		return err
	}
	s.grpcBack = grpc.NewServer(opts...)
	s.mgr.RegisterBackend(s.grpcBack)
	s.endpoints.Backend = "http://" + back.Addr().String()
	s.serve(s.grpcBack, back)
	return nil
}

func listenTCP(addr, what, flag string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscallEADDRINUSE) {
			return nil, fmt.Errorf("the %s address %s is already in use: stop what is using it or choose another with %s", what, addr, flag)
		}
		return nil, fmt.Errorf("listen on %s for the %s: %w", addr, what, err)
	}
	return l, nil
}

func (s *Server) serve(g *grpc.Server, l net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := g.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("gRPC server stopped", "addr", l.Addr().String(), "err", err)
		}
	}()
}

// startCache opens the object cache and serves it on its own port.
func (s *Server) startCache() error {
	if s.opts.CacheAddr == "off" {
		return nil
	}
	dir := s.opts.CacheStorage
	switch dir {
	case "":
		dir = filepath.Join(s.dataDir, "cache")
	case StorageNone:
		dir = ""
	}
	c, err := objectcache.New(objectcache.Options{
		Dir:        dir,
		MaxMemory:  s.opts.CacheMaxMemory,
		Compress:   s.opts.CacheCompress,
		MaxObjects: s.opts.CacheMaxObjects,
		Logger:     s.log.With("component", "object-cache"),
	})
	if err != nil {
		return err
	}
	s.cache = c
	l, err := listenTCP(s.opts.CacheAddr, "object cache", "--cache-listen")
	if err != nil {
		return err
	}
	adv := s.opts.CacheAdvertise
	if adv == "" {
		adv = "grpc://" + l.Addr().String()
	}
	c.SetAdvertise(adv)
	s.grpcCache = grpc.NewServer(objectcache.ServerOptions()...)
	c.Register(s.grpcCache)
	s.endpoints.Cache = adv
	s.serve(s.grpcCache, l)
	return nil
}

// shortSocketDir returns a new private directory for instance sockets whose
// path leaves room for "<uuid>.sock" within the 107 bytes a Unix socket path
// may have, even when $TMPDIR is long.
func shortSocketDir() (string, error) {
	base := os.TempDir()
	if len(base) > 40 {
		base = "/tmp"
	}
	return os.MkdirTemp(base, "flame-")
}

func (s *Server) startExecutor(ctx context.Context) error {
	sockDir := s.opts.SocketDir
	if sockDir == "" && os.Getenv("FLAME_SOCKET_DIR") == "" {
		dir, err := shortSocketDir()
		if err != nil {
			return fmt.Errorf("create the instance socket directory: %w", err)
		}
		sockDir, s.ownSockDir = dir, dir
	}
	exec, err := executor.New(executor.Options{
		Backend:         s.mgr.Direct(),
		WorkDir:         filepath.Join(s.dataDir, "executors"),
		SocketDir:       sockDir,
		Env:             s.opts.Env,
		ClusterEndpoint: s.endpoints.Frontend,
		CacheEndpoint:   s.endpoints.Cache,
		Logger:          s.log.With("component", "executor-manager"),
		SocketWait:      s.opts.SocketWait,
		StopGrace:       s.opts.StopGrace,
		GRPCOnly:        s.opts.InstanceGRPCOnly,
		Resources:       s.opts.Node,
	})
	if err != nil {
		return err
	}
	s.exec = exec
	if err := os.MkdirAll(filepath.Join(s.dataDir, "executors"), 0o700); err != nil {
		return fmt.Errorf("create the executors' directory: %w", err)
	}
	if err := exec.Start(); err != nil {
		return err
	}
	return nil
}

// Endpoints returns the cluster's URLs (with the ports actually bound).
func (s *Server) Endpoints() Endpoints { return s.endpoints }

// DataDir returns the data directory in use.
func (s *Server) DataDir() string { return s.dataDir }

// Stop shuts the cluster down, in order: (1) answer the CreateTask calls
// waiting for their tasks' ends, and stop accepting RPCs (graceful,
// bounded, then forced), (2) stop the executor manager (instances get
// SIGTERM, then SIGKILL after the grace period), (3) stop the session
// manager (long polls end, queued changes are committed), (4) close the
// store, (5) remove a temporary data directory. Idempotent.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.mgr != nil {
			// Invokes waiting in CreateTask are answered with their tasks
			// while the server still answers: they go on watching, for a
			// result within the grace period or an error naming the task.
			s.mgr.EndWaits()
		}
		for _, g := range []*grpc.Server{s.grpcFront, s.grpcBack, s.grpcCache} {
			if g != nil {
				stopGRPC(g, 2*time.Second)
			}
		}
		s.wg.Wait()
		if s.cache != nil {
			s.cache.Close()
		}
		if s.exec != nil {
			s.exec.Stop()
		}
		if s.mgr != nil {
			s.mgr.Stop()
		}
		if s.st != nil {
			if err := s.st.Close(); err != nil {
				s.log.Error("closing the store failed", "err", err)
			}
		}
		if s.ownData {
			_ = os.RemoveAll(s.dataDir)
		}
		if s.ownSockDir != "" {
			_ = os.RemoveAll(s.ownSockDir)
		}
	})
}

// stopGRPC stops g gracefully, forcing it after timeout (long-lived watch
// streams would otherwise hold a graceful stop forever).
func stopGRPC(g *grpc.Server, timeout time.Duration) {
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		g.Stop()
		<-done
	}
}
