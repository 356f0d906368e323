// Package local starts a complete single-node Flame cluster inside the
// current process: session manager, scheduler, store, an executor manager
// that runs real instance processes, and the object cache. It is how Go programs and
// tests get a real cluster without installing anything:
//
//	c, err := local.Start(ctx, local.Options{})
//	if err != nil { ... }
//	defer c.Stop()
//	conn, err := client.Connect(ctx, c.Endpoints().Frontend)
//
// With the zero Options the cluster listens on free loopback ports, keeps its
// state in memory and uses a temporary directory that Stop removes.
package local

import (
	"context"
	"log/slog"
	"time"

	"github.com/flmctl/flmctl/internal/server"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// Storage kinds for Options.Storage.
const (
	// StorageSQLite keeps the cluster's state in <DataDir>/flame.db; it
	// survives a restart (and a crash) of the cluster.
	StorageSQLite = server.StorageSQLite
	// StorageNone keeps everything in memory.
	StorageNone = server.StorageNone
)

// Options configure a local cluster; every field is optional.
type Options struct {
	// DataDir holds the store and the executors' working directories. ""
	// means a temporary directory removed by Stop.
	DataDir string
	// Storage is StorageSQLite or StorageNone. "" means StorageNone with a
	// temporary DataDir and StorageSQLite with a given one.
	Storage string
	// ListenAddr is the Frontend address; "" means 127.0.0.1:0.
	ListenAddr string
	// BackendAddr is the Backend address for executor managers on other
	// machines; "" means a free port next to the Frontend, "off" disables
	// it.
	BackendAddr string
	// CacheAddr is the object cache's address; "" means a free port on
	// 127.0.0.1, "off" runs no cache.
	CacheAddr string
	// CacheAdvertise is the cache endpoint given to clients and instances
	// when it differs from grpc://<the bound address>.
	CacheAdvertise string
	// CacheStorage is where cached objects are kept on disk: "" means
	// <DataDir>/cache, StorageNone memory only, else a directory.
	CacheStorage string
	// CacheMaxMemory is the byte budget of cached objects held in memory;
	// 0 means 1 GiB, negative means no limit.
	CacheMaxMemory int64
	// CacheMaxObjects bounds the cached objects held in memory; 0 means no
	// bound.
	CacheMaxObjects int
	// CacheCompress sends cache downloads ZSTD-compressed, as upstream
	// does; off by default, as it costs more than it saves on one machine.
	CacheCompress bool
	// Logger receives the cluster's logs; nil discards them.
	Logger *slog.Logger
	// ResReq is the default resource requirement of sessions; nil means
	// 1 CPU and 1 GiB.
	ResReq *flamev1.ResourceRequirement
	// Node overrides the measured capacity (CPUs, memory, GPUs) of the
	// cluster's one node.
	Node *flamev1.ResourceRequirement
	// MaxExecutors caps the instances that run at once; 0 means twice the
	// CPUs, at least 4.
	MaxExecutors int
	// BuiltinCommand is the command that serves the built-in applications
	// flmping and flmexec, the service name appended; nil means this
	// executable with "serve --builtin", which is right inside flmctl.
	BuiltinCommand []string
	// Env is the environment of instance processes; nil means the
	// process's own.
	Env []string
	// ScheduleInterval, SocketWait and StopGrace tune the scheduler period,
	// the wait for a new instance's socket, and the time between SIGTERM and
	// SIGKILL when an instance is stopped; 0 means the defaults.
	ScheduleInterval time.Duration
	SocketWait       time.Duration
	StopGrace        time.Duration
	// InstanceGRPCOnly calls every instance over gRPC. By default an
	// instance built on pkg/service is called over flmctl's framed wire,
	// which costs far less per task; services of other SDKs always get
	// gRPC.
	InstanceGRPCOnly bool
}

// Endpoints are the URLs of a running cluster.
type Endpoints = server.Endpoints

// Cluster is a running local cluster.
type Cluster struct{ s *server.Server }

// Start brings a cluster up; it returns once the cluster accepts requests.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	s, err := server.Start(ctx, server.Options{
		DataDir:          opts.DataDir,
		Storage:          opts.Storage,
		ListenAddr:       opts.ListenAddr,
		BackendAddr:      opts.BackendAddr,
		CacheAddr:        opts.CacheAddr,
		CacheAdvertise:   opts.CacheAdvertise,
		CacheStorage:     opts.CacheStorage,
		CacheMaxMemory:   opts.CacheMaxMemory,
		CacheCompress:    opts.CacheCompress,
		CacheMaxObjects:  opts.CacheMaxObjects,
		Logger:           opts.Logger,
		ResReq:           opts.ResReq,
		Node:             opts.Node,
		MaxExecutors:     opts.MaxExecutors,
		BuiltinCommand:   opts.BuiltinCommand,
		Env:              opts.Env,
		ScheduleInterval: opts.ScheduleInterval,
		SocketWait:       opts.SocketWait,
		StopGrace:        opts.StopGrace,
		InstanceGRPCOnly: opts.InstanceGRPCOnly,
	})
	if err != nil {
		return nil, err
	}
	return &Cluster{s: s}, nil
}

// Endpoints returns the cluster's URLs, with the ports actually bound.
func (c *Cluster) Endpoints() Endpoints { return c.s.Endpoints() }

// DataDir returns the cluster's data directory.
func (c *Cluster) DataDir() string { return c.s.DataDir() }

// Stop shuts the cluster down: no goroutine and no instance process of it
// is left when it returns. It is idempotent.
func (c *Cluster) Stop() { c.s.Stop() }
