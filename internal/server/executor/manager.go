package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"google.golang.org/protobuf/proto"
)

// Defaults of Options.
const (
	// DefaultSocketWait bounds the wait for a new instance's socket.
	DefaultSocketWait = 60 * time.Second
	// DefaultStopGrace is the time between SIGTERM and SIGKILL.
	DefaultStopGrace = 5 * time.Second
	// DefaultFlameHome is upstream's FLAME_HOME when none is set (spec §8.5).
	DefaultFlameHome = "/opt/flame"
)

// Reconnect back-off of the node watch (spec §6.1).
const (
	defaultReconnectMin = time.Second
	defaultReconnectMax = 30 * time.Second
)

// Options configures a Manager. Only Backend is required.
type Options struct {
	// Backend is the session manager. Required.
	Backend Backend
	// NodeName names this node; "" means os.Hostname().
	NodeName string
	// WorkDir is the base of the working directories the manager creates,
	// <WorkDir>/<executor id>, for applications without a
	// working_directory; a relative working_directory is also taken
	// relative to it. "" means the current directory, else /tmp/flame
	// (spec §8.1).
	WorkDir string
	// SocketDir holds the instances' Unix sockets, <SocketDir>/<executor
	// id>.sock; created if missing. "" means $FLAME_SOCKET_DIR from Env,
	// else a private directory under os.TempDir() that Stop removes. Socket
	// paths must stay under 108 bytes, so keep it short.
	SocketDir string
	// Env is the manager's environment as KEY=VALUE entries: what instances
	// inherit and what $VAR references expand from. nil means os.Environ().
	Env []string
	// ClusterEndpoint is exported to instances as FLAME_ENDPOINT (e.g.
	// "http://127.0.0.1:8080") when not empty.
	ClusterEndpoint string
	// CacheEndpoint is exported as FLAME_CACHE_ENDPOINT when not empty.
	CacheEndpoint string
	// CAFile is exported as FLAME_CA_FILE when not empty.
	CAFile string
	// FlameHome is the install root searched for
	// lib/python<X.Y>/site-packages (spec §8.5); when set it is also exported
	// as FLAME_HOME to instances whose environment has none. "" means
	// $FLAME_HOME from Env, else /opt/flame.
	FlameHome string
	// Logger receives the manager's logs; nil discards them.
	Logger *slog.Logger
	// SocketWait bounds the wait for a new instance to create its socket
	// and accept a connection; the wait also ends as soon as the process
	// exits. 0 means DefaultSocketWait.
	SocketWait time.Duration
	// StopGrace is the time between SIGTERM and SIGKILL when an instance is
	// stopped. 0 means DefaultStopGrace.
	StopGrace time.Duration
	// Resources overrides the node's capacity; nil means measured (logical
	// CPUs, MemTotal, CUDA_VISIBLE_DEVICES).
	Resources *flamev1.ResourceRequirement
	// GRPCOnly calls every instance over gRPC. By default the manager
	// offers instances the framed wire (internal/instancewire) and uses it
	// with those that serve it, as pkg/service's do.
	GRPCOnly bool
}

// Manager is the executor manager of one node: it registers the node with
// the session manager, watches it for executors and runs each executor's
// loop (spec §6.3) with its instance processes (spec §8).
type Manager struct {
	opts       Options
	backend    Backend
	log        *slog.Logger
	node       string
	env        *envSet // the manager's environment, read-only
	workDir    string
	socketDir  string
	ownSockDir bool // socketDir was created by New and is removed by Stop
	flameHome  string
	socketWait time.Duration
	stopGrace  time.Duration

	// reconnectMin and reconnectMax bound the node watch's back-off; tests
	// shorten them before Start.
	reconnectMin, reconnectMax time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the manager starts
	done   chan struct{}  // closed when Stop has finished

	// mu guards started, stopping and executors. Lock order: mu before an
	// executor's mu (Executors reads each executor under both).
	mu        sync.Mutex
	started   bool
	stopping  bool
	executors map[string]*executor

	// dirMu guards dirRefs and the creation and removal of the directories
	// it counts.
	dirMu   sync.Mutex
	dirRefs map[string]int // work/<app> in user working directories → bindings using it

	// installMu guards installed.
	installMu sync.Mutex
	installed map[string]*installVars // successful installs by key (spec §8.5)
}

// New validates opts, fills in the defaults and creates the socket
// directory. It starts nothing: call Start, or Run.
func New(opts Options) (*Manager, error) {
	if opts.Backend == nil {
		return nil, errors.New("executor manager: Options.Backend is required")
	}
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	m := &Manager{
		opts:         opts,
		backend:      opts.Backend,
		log:          opts.Logger,
		env:          envFromList(env),
		socketWait:   opts.SocketWait,
		stopGrace:    opts.StopGrace,
		reconnectMin: defaultReconnectMin,
		reconnectMax: defaultReconnectMax,
		done:         make(chan struct{}),
		executors:    make(map[string]*executor),
		installed:    make(map[string]*installVars),
		dirRefs:      make(map[string]int),
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.socketWait <= 0 {
		m.socketWait = DefaultSocketWait
	}
	if m.stopGrace <= 0 {
		m.stopGrace = DefaultStopGrace
	}
	m.node = opts.NodeName
	if m.node == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return nil, fmt.Errorf("executor manager: cannot read the host name (%v); set a node name", err)
		}
		m.node = h
	}
	m.flameHome = opts.FlameHome
	if m.flameHome == "" {
		if v, ok := m.env.get("FLAME_HOME"); ok && v != "" {
			m.flameHome = v
		} else {
			m.flameHome = DefaultFlameHome
		}
	}
	m.workDir = opts.WorkDir
	if m.workDir == "" {
		if wd, err := os.Getwd(); err == nil {
			m.workDir = wd
		} else {
			m.workDir = filepath.Join(os.TempDir(), "flame")
		}
	}
	wd, err := filepath.Abs(m.workDir)
	if err != nil {
		return nil, fmt.Errorf("executor manager: work directory %s: %w", m.workDir, err)
	}
	m.workDir = wd

	m.socketDir = opts.SocketDir
	if m.socketDir == "" {
		m.socketDir, _ = m.env.get("FLAME_SOCKET_DIR")
	}
	if m.socketDir == "" {
		d, err := os.MkdirTemp("", "flame-sock-")
		if err != nil {
			return nil, fmt.Errorf("executor manager: create a socket directory: %w", err)
		}
		m.socketDir, m.ownSockDir = d, true
	} else {
		d, err := filepath.Abs(m.socketDir)
		if err != nil {
			return nil, fmt.Errorf("executor manager: socket directory %s: %w", m.socketDir, err)
		}
		m.socketDir = d
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("executor manager: create socket directory: %w", err)
		}
	}
	// Executor ids are UUIDs upstream (36 bytes): <dir>/<uuid>.sock must fit.
	if n := len(m.socketDir) + len("/") + 36 + len(".sock"); n > maxSocketPath {
		if m.ownSockDir {
			_ = os.RemoveAll(m.socketDir)
		}
		return nil, fmt.Errorf("executor manager: socket directory %s is too long: a socket path in it would be %d bytes, "+
			"over the %d bytes a Unix socket path allows; choose a directory of at most %d bytes (FLAME_SOCKET_DIR)",
			m.socketDir, n, maxSocketPath, maxSocketPath-len("/")-36-len(".sock"))
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// SocketDir returns the directory that holds the instances' sockets.
func (m *Manager) SocketDir() string { return m.socketDir }

// NodeName returns the name the node registers under.
func (m *Manager) NodeName() string { return m.node }

// Start registers the node and starts watching it for executors, in the
// background: registration failures are logged and retried with a back-off
// of 1 s doubling to 30 s until Stop. It fails only when the manager was
// already started or stopped.
func (m *Manager) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.stopping:
		return errors.New("executor manager: already stopped")
	case m.started:
		return errors.New("executor manager: already started")
	}
	m.started = true
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.watchLoop()
	}()
	return nil
}

// Stop shuts the manager down and returns when nothing of it is left. In
// order:
//  1. refuse new executors and cancel the root context: the node watch
//     ends, every Backend call in flight returns, calls to instances are
//     cancelled (a task in flight is not reported);
//  2. each executor stops its instance: SIGTERM to the process group,
//     SIGKILL after StopGrace, reaped; sockets and the directories the
//     manager created are removed (the executors do this in parallel);
//  3. wait for every goroutine the manager started;
//  4. remove the socket directory if New created it.
//
// Stop tells the session manager nothing: executors are left in their
// states and a remote session manager drains the node when its watch
// ends (spec §6.1). Stop is idempotent and safe to call concurrently.
func (m *Manager) Stop() {
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		<-m.done
		return
	}
	m.stopping = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	if m.ownSockDir {
		_ = os.RemoveAll(m.socketDir)
	}
	close(m.done)
}

// Run starts the manager, blocks until ctx is done, then stops it.
func (m *Manager) Run(ctx context.Context) error {
	if err := m.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	m.Stop()
	return nil
}

// Node describes this node as it registers: name, capacity (measured now
// unless overridden), info and state Ready.
func (m *Manager) Node() *flamev1.Node {
	return &flamev1.Node{
		Metadata: &flamev1.Metadata{Id: m.node, Name: m.node},
		Spec:     &flamev1.NodeSpec{Hostname: m.node},
		Status:   m.nodeStatus(),
	}
}

func (m *Manager) nodeStatus() *flamev1.NodeStatus {
	res := m.opts.Resources
	if res == nil {
		res = detectResources(m.env.get)
	}
	return &flamev1.NodeStatus{
		State:       flamev1.NodeState_Ready,
		Capacity:    proto.CloneOf(res),
		Allocatable: proto.CloneOf(res),
		Info:        &flamev1.NodeInfo{Arch: nodeArch(), Os: runtime.GOOS},
	}
}

// Executors returns the executors the manager runs, with their local
// state and session.
func (m *Manager) Executors() []*flamev1.Executor {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*flamev1.Executor, 0, len(m.executors))
	for _, e := range m.executors {
		out = append(out, e.describe())
	}
	return out
}

// watchLoop registers the node and watches it, again and again, until the
// manager stops (spec §6.1).
func (m *Manager) watchLoop() {
	delay := m.reconnectMin
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for m.ctx.Err() == nil {
		err := m.backend.RegisterNode(m.ctx, m.Node(), m.Executors())
		if err == nil {
			m.log.Info("node registered", "node", m.node)
			delay = m.reconnectMin
			err = m.backend.WatchNode(m.ctx, m.node, m.nodeStatus, m.deliver)
		}
		if m.ctx.Err() != nil {
			return
		}
		m.log.Warn("node watch broken; reconnecting", "node", m.node, "after", delay, "err", err)
		t.Reset(delay)
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		delay = min(delay*2, m.reconnectMax)
	}
}

// deliver handles one executor message of the node watch: Released drops
// the executor, an unknown id starts a local executor in the corresponding
// state, a known id is ignored (the node drives its own executors).
func (m *Manager) deliver(x *flamev1.Executor) {
	id := x.GetMetadata().GetId()
	state := x.GetStatus().GetState()
	if node := x.GetSpec().GetNode(); node != "" && node != m.node {
		m.log.Warn("ignoring an executor of another node", "executor", id, "node", node)
		return
	}
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\\\x00") {
		m.log.Warn("ignoring an executor with an unusable id", "executor", id)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping {
		return
	}
	e, known := m.executors[id]
	switch {
	case state == flamev1.ExecutorState_ExecutorReleased:
		if known {
			m.log.Info("executor released by the session manager", "executor", id)
			e.cancel()
		}
		return
	case known:
		return
	}
	e = m.newExecutor(id, x, localState(state))
	m.executors[id] = e
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		e.run()
		m.mu.Lock()
		if m.executors[id] == e {
			delete(m.executors, id)
		}
		m.mu.Unlock()
	}()
}

// localState maps the state the session manager reports for an executor
// the node does not know (e.g. after the manager restarted) to where its
// loop starts: with no instance, anything bound must unbind first.
func localState(s flamev1.ExecutorState) flamev1.ExecutorState {
	switch s {
	case flamev1.ExecutorState_ExecutorIdle, flamev1.ExecutorState_ExecutorBinding:
		return flamev1.ExecutorState_ExecutorIdle
	case flamev1.ExecutorState_ExecutorBound, flamev1.ExecutorState_ExecutorUnbinding:
		return flamev1.ExecutorState_ExecutorUnbinding
	case flamev1.ExecutorState_ExecutorReleasing:
		return flamev1.ExecutorState_ExecutorReleasing
	default:
		return flamev1.ExecutorState_ExecutorVoid
	}
}
