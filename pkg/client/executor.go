package client

import (
	"context"
	"strconv"
	"time"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// Executor is a worker slot on a node that runs the tasks of one session at a time.
type Executor struct {
	ID        string
	Node      string
	ResReq    ResourceRequirement
	Shim      Shim
	State     ExecutorState
	SessionID string // the bound session, "" if none
	proto     *flamev1.Executor
}

// Proto returns the executor as received, for printers.
func (e *Executor) Proto() *flamev1.Executor { return e.proto }

// Node is a machine whose executor manager has registered with the cluster.
type Node struct {
	Name        string
	Hostname    string
	State       NodeState
	Capacity    ResourceRequirement
	Allocatable ResourceRequirement
	Arch        string
	OS          string
	Addresses   []NodeAddress
	// LastHeartbeat is zero when the server does not report it (upstream never does).
	LastHeartbeat time.Time
	proto         *flamev1.Node
}

// NodeAddress is one address of a node, e.g. {"InternalIP", "10.0.0.7"}.
type NodeAddress struct {
	Type    string
	Address string
}

// Proto returns the node as received, for printers.
func (n *Node) Proto() *flamev1.Node { return n.proto }

func nodeFromProto(p *flamev1.Node) *Node {
	st := p.GetStatus()
	n := &Node{
		Name:        p.GetMetadata().GetName(),
		Hostname:    p.GetSpec().GetHostname(),
		State:       NodeState(st.GetState()),
		Capacity:    ResourceRequirementFromProto(st.GetCapacity()),
		Allocatable: ResourceRequirementFromProto(st.GetAllocatable()),
		Arch:        st.GetInfo().GetArch(),
		OS:          st.GetInfo().GetOs(),
		proto:       p,
	}
	if secs := st.GetLastHeartbeatTime(); secs != 0 {
		n.LastHeartbeat = time.Unix(secs, 0)
	}
	for _, a := range st.GetAddresses() {
		n.Addresses = append(n.Addresses, NodeAddress{Type: a.GetType(), Address: a.GetAddress()})
	}
	return n
}

// ListExecutors returns every executor the server knows.
func (c *Connection) ListExecutors(ctx context.Context) ([]*Executor, error) {
	list, err := c.frontend.ListExecutor(ctx, &flamev1.ListExecutorRequest{})
	if err != nil {
		return nil, c.wrap("list executors", err)
	}
	executors := make([]*Executor, len(list.GetExecutors()))
	for i, p := range list.GetExecutors() {
		executors[i] = &Executor{
			ID:        p.GetMetadata().GetId(),
			Node:      p.GetSpec().GetNode(),
			ResReq:    ResourceRequirementFromProto(p.GetSpec().GetResreq()),
			Shim:      Shim(p.GetSpec().GetShim()),
			State:     ExecutorState(p.GetStatus().GetState()),
			SessionID: p.GetStatus().GetSessionId(),
			proto:     p,
		}
	}
	return executors, nil
}

// ListNodes returns every registered node.
func (c *Connection) ListNodes(ctx context.Context) ([]*Node, error) {
	list, err := c.frontend.ListNodes(ctx, &flamev1.ListNodesRequest{})
	if err != nil {
		return nil, c.wrap("list nodes", err)
	}
	nodes := make([]*Node, len(list.GetNodes()))
	for i, p := range list.GetNodes() {
		nodes[i] = nodeFromProto(p)
	}
	return nodes, nil
}

// GetNode returns the node name; an unknown name is an error matching ErrNotFound.
func (c *Connection) GetNode(ctx context.Context, name string) (*Node, error) {
	resp, err := c.frontend.GetNode(ctx, &flamev1.GetNodeRequest{Name: name})
	if err != nil {
		return nil, c.wrap("get node "+strconv.Quote(name), err)
	}
	return nodeFromProto(resp.GetNode()), nil
}
