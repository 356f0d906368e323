package sessionmgr

import (
	"context"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/flmctl/flmctl/internal/server/errs"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// Node liveness (spec §3.4, §6.1).
const (
	// HeartbeatInterval is how often a watching node's status is refreshed.
	HeartbeatInterval = 5 * time.Second
	// DrainTimeout is how long a node that stopped watching keeps its
	// executors before they are deleted and their tasks queued again.
	DrainTimeout = 30 * time.Second
)

// node is a registered executor manager. Its fields are guarded by
// Manager.mu.
type node struct {
	name string
	pb   *flamev1.Node
	// maxExecutors caps the executors on the node (0: no cap).
	maxExecutors int
	// outbox holds executor messages not yet delivered to the node.
	outbox []*flamev1.Executor
	// signal is closed (broadcast) when outbox gets a message.
	signal chan struct{}
	// watchers counts the WatchNode calls serving the node.
	watchers int
	// drain deletes the node's executors unless it comes back in time.
	drain *time.Timer
}

// RegisterNode records a node (Ready) and queues a full sync of its
// executors for its watch: every executor the manager has on it, and the
// ones it reported that the manager does not know, as Released so that it
// drops them (spec §6.1).
func (m *Manager) RegisterNode(_ context.Context, n *flamev1.Node, executors []*flamev1.Executor) error {
	if n == nil || n.GetMetadata().GetName() == "" {
		return errs.InvalidArgument("node is missing or has no name")
	}
	pb := proto.Clone(n).(*flamev1.Node)
	name := pb.GetMetadata().GetName()
	if pb.Status == nil {
		pb.Status = &flamev1.NodeStatus{}
	}
	pb.Status.State = flamev1.NodeState_Ready
	pb.Status.LastHeartbeatTime = m.now().Unix() // seconds, as documented upstream
	if pb.Status.Allocatable == nil {
		pb.Status.Allocatable = pb.Status.Capacity
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	nd := m.nodes[name]
	if nd == nil {
		nd = &node{name: name, signal: make(chan struct{})}
		m.nodes[name] = nd
	}
	nd.pb = pb
	nd.maxExecutors = m.maxExecutorsFor(pb)
	if nd.drain != nil {
		nd.drain.Stop()
		nd.drain = nil
	}
	known := map[string]bool{}
	for _, e := range m.executors {
		if e.node == name {
			known[e.id] = true
			nd.outbox = append(nd.outbox, e.message())
		}
	}
	for _, e := range executors {
		if id := e.GetMetadata().GetId(); id != "" && !known[id] {
			gone := proto.Clone(e).(*flamev1.Executor)
			if gone.Status == nil {
				gone.Status = &flamev1.ExecutorStatus{}
			}
			gone.Status.State = flamev1.ExecutorState_ExecutorReleased
			nd.outbox = append(nd.outbox, gone)
		}
	}
	broadcast(&nd.signal)
	m.kickScheduler()
	return nil
}

// maxExecutorsFor returns the executor cap of a node (0: none): the
// configured one, else twice its CPUs and at least 4, so that sessions that
// request no resources do not get a process per pending task.
func (m *Manager) maxExecutorsFor(n *flamev1.Node) int {
	switch v := m.opts.MaxExecutorsPerNode; {
	case v > 0:
		return v
	case v < 0:
		return 0
	}
	return max(4, 2*int(n.GetStatus().GetAllocatable().GetCpu()))
}

// notifyNodeLocked queues e's current state for its node's watch.
// m.mu must be held.
func (m *Manager) notifyNodeLocked(e *executor) {
	nd := m.nodes[e.node]
	if nd == nil {
		return
	}
	nd.outbox = append(nd.outbox, e.message())
	broadcast(&nd.signal)
}

// WatchNode delivers the executor messages queued for a registered node
// until ctx ends, refreshing the node's status from status at every
// heartbeat. When the last watch of a node ends (other than at shutdown) the
// node becomes Unknown, and after DrainTimeout without a new registration
// its executors are deleted and their running tasks queued again.
func (m *Manager) WatchNode(ctx context.Context, name string, status func() *flamev1.NodeStatus, deliver func(*flamev1.Executor) error) error {
	m.mu.Lock()
	nd := m.nodes[name]
	if nd == nil {
		m.mu.Unlock()
		return errs.NotFound("node %s not found; register it first", name)
	}
	nd.watchers++
	m.mu.Unlock()
	defer m.unwatchNode(nd)

	heartbeat := time.NewTicker(HeartbeatInterval)
	defer heartbeat.Stop()
	for {
		m.mu.Lock()
		out, signal := nd.outbox, waitChan(&nd.signal)
		nd.outbox = nil
		m.mu.Unlock()
		for _, e := range out {
			if err := deliver(e); err != nil {
				return err
			}
		}
		select {
		case <-signal:
		case <-heartbeat.C:
			if status != nil {
				m.updateNodeStatus(nd, status())
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-m.ctx.Done():
			return errs.Unavailable("the session manager is shutting down")
		}
	}
}

// updateNodeStatus applies a heartbeat's status to a Ready node.
func (m *Manager) updateNodeStatus(nd *node, st *flamev1.NodeStatus) {
	if st == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if nd.pb.GetStatus().GetState() != flamev1.NodeState_Ready {
		return
	}
	pb := proto.Clone(nd.pb).(*flamev1.Node)
	pb.Status.Capacity = st.GetCapacity()
	pb.Status.Allocatable = st.GetAllocatable()
	if pb.Status.Allocatable == nil {
		pb.Status.Allocatable = st.GetCapacity()
	}
	if st.GetInfo() != nil {
		pb.Status.Info = st.GetInfo()
	}
	pb.Status.LastHeartbeatTime = m.now().Unix() // seconds, as documented upstream
	changed := !proto.Equal(nd.pb.GetStatus().GetAllocatable(), pb.Status.Allocatable)
	nd.pb = pb
	if changed {
		m.kickScheduler() // the capacity a starved session waits for may be there
	}
}

func (m *Manager) unwatchNode(nd *node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	nd.watchers--
	if nd.watchers > 0 || m.stopped || m.nodes[nd.name] != nd {
		return
	}
	pb := proto.Clone(nd.pb).(*flamev1.Node)
	pb.Status.State = flamev1.NodeState_Unknown
	nd.pb = pb
	nd.drain = time.AfterFunc(DrainTimeout, func() { m.drainNode(nd) })
}

// drainNode deletes the executors of a node that did not come back.
func (m *Manager) drainNode(nd *node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped || nd.watchers > 0 || nd.pb.GetStatus().GetState() != flamev1.NodeState_Unknown {
		return
	}
	pb := proto.Clone(nd.pb).(*flamev1.Node)
	pb.Status.State = flamev1.NodeState_NotReady
	nd.pb = pb
	for _, e := range m.executors {
		if e.node == nd.name {
			m.removeExecutorLocked(e)
		}
	}
	m.log.Warn("node drained: its executors were deleted and their tasks queued again", "node", nd.name)
	m.kickScheduler()
}

// ReleaseNode forgets a node.
func (m *Manager) ReleaseNode(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	nd := m.nodes[name]
	if nd == nil {
		return errs.NotFound("node %s not found", name)
	}
	if nd.drain != nil {
		nd.drain.Stop()
	}
	for _, e := range m.executors {
		if e.node == name {
			m.removeExecutorLocked(e)
		}
	}
	delete(m.nodes, name)
	m.kickScheduler()
	return nil
}

// ListNodes returns every registered node.
func (m *Manager) ListNodes(context.Context, *flamev1.ListNodesRequest) (*flamev1.NodeList, error) {
	m.mu.Lock()
	list := make([]*flamev1.Node, 0, len(m.nodes))
	for _, nd := range m.nodes {
		list = append(list, nd.pb)
	}
	m.mu.Unlock()
	slices.SortFunc(list, func(a, b *flamev1.Node) int {
		return strings.Compare(a.GetMetadata().GetName(), b.GetMetadata().GetName())
	})
	return &flamev1.NodeList{Nodes: list}, nil
}

// GetNode returns one node.
func (m *Manager) GetNode(_ context.Context, req *flamev1.GetNodeRequest) (*flamev1.GetNodeResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	nd := m.nodes[req.GetName()]
	if nd == nil {
		return nil, errs.NotFound("node %s not found", req.GetName())
	}
	return &flamev1.GetNodeResponse{Node: nd.pb}, nil
}

// stopDrains stops pending drain timers (at shutdown). m.mu must be held.
func (m *Manager) stopDrainsLocked() {
	for _, nd := range m.nodes {
		if nd.drain != nil {
			nd.drain.Stop()
		}
	}
}
