package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flmctl/flmctl/pkg/client"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

func TestListExecutors(t *testing.T) {
	conn := connect(t, &stubFrontend{
		ListExecutorF: func(context.Context, *flamev1.ListExecutorRequest) (*flamev1.ExecutorList, error) {
			return &flamev1.ExecutorList{Executors: []*flamev1.Executor{
				{
					Metadata: &flamev1.Metadata{Id: "e1", Name: "e1"},
					Spec:     &flamev1.ExecutorSpec{Node: "n1", Resreq: &flamev1.ResourceRequirement{Cpu: 1, Memory: 1 << 30}},
					Status:   &flamev1.ExecutorStatus{State: flamev1.ExecutorState_ExecutorBound, SessionId: new("s1")},
				},
				{Metadata: &flamev1.Metadata{Id: "e2"}, Status: &flamev1.ExecutorStatus{State: flamev1.ExecutorState_ExecutorIdle}},
			}}, nil
		},
	})
	got, err := conn.ListExecutors(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []*client.Executor{
		{ID: "e1", Node: "n1", ResReq: client.ResourceRequirement{CPU: 1, Memory: 1 << 30}, State: client.ExecutorBound, SessionID: "s1"},
		{ID: "e2", State: client.ExecutorIdle},
	}
	if d := cmp.Diff(want, got, cmpopts.IgnoreUnexported(client.Executor{})); d != "" {
		t.Errorf("ListExecutors (-want +got):\n%s", d)
	}
	if got[0].Proto().GetMetadata().GetId() != "e1" {
		t.Error("Proto() is not the received message")
	}
}

func TestListAndGetNodes(t *testing.T) {
	node := &flamev1.Node{
		Metadata: &flamev1.Metadata{Id: "n1", Name: "n1"},
		Spec:     &flamev1.NodeSpec{Hostname: "n1"},
		Status: &flamev1.NodeStatus{
			State:             flamev1.NodeState_Ready,
			Capacity:          &flamev1.ResourceRequirement{Cpu: 8, Memory: 16 << 30},
			Allocatable:       &flamev1.ResourceRequirement{Cpu: 6, Memory: 12 << 30, Gpu: 1},
			Info:              &flamev1.NodeInfo{Arch: "x86_64", Os: "linux"},
			Addresses:         []*flamev1.NodeAddress{{Type: "InternalIP", Address: "10.0.0.7"}},
			LastHeartbeatTime: 1700000000,
		},
	}
	conn := connect(t, &stubFrontend{
		ListNodesF: func(context.Context, *flamev1.ListNodesRequest) (*flamev1.NodeList, error) {
			return &flamev1.NodeList{Nodes: []*flamev1.Node{node}}, nil
		},
		GetNodeF: func(_ context.Context, r *flamev1.GetNodeRequest) (*flamev1.GetNodeResponse, error) {
			if r.Name != "n1" {
				return nil, status.Errorf(codes.NotFound, "node %s not found", r.Name)
			}
			return &flamev1.GetNodeResponse{Node: node}, nil
		},
	})
	want := &client.Node{
		Name: "n1", Hostname: "n1", State: client.NodeReady,
		Capacity:    client.ResourceRequirement{CPU: 8, Memory: 16 << 30},
		Allocatable: client.ResourceRequirement{CPU: 6, Memory: 12 << 30, GPU: 1},
		Arch:        "x86_64", OS: "linux",
		Addresses:     []client.NodeAddress{{Type: "InternalIP", Address: "10.0.0.7"}},
		LastHeartbeat: time.Unix(1700000000, 0),
	}
	nodes, err := conn.ListNodes(t.Context())
	if err != nil || len(nodes) != 1 {
		t.Fatalf("ListNodes = %v, %v", nodes, err)
	}
	if d := cmp.Diff(want, nodes[0], cmpopts.IgnoreUnexported(client.Node{})); d != "" {
		t.Errorf("ListNodes (-want +got):\n%s", d)
	}
	n, err := conn.GetNode(t.Context(), "n1")
	if err != nil || n.Proto() != nil && n.Proto().GetMetadata().GetName() != "n1" {
		t.Fatalf("GetNode = %v, %v", n, err)
	}
	if d := cmp.Diff(want, n, cmpopts.IgnoreUnexported(client.Node{})); d != "" {
		t.Errorf("GetNode (-want +got):\n%s", d)
	}
	_, err = conn.GetNode(t.Context(), "n2")
	if !errors.Is(err, client.ErrNotFound) || err.Error() != `get node "n2": node n2 not found` {
		t.Errorf("GetNode(n2) = %v", err)
	}
}
