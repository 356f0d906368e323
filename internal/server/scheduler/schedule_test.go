package scheduler

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

const gib = 1 << 30

var (
	small = Resources{CPU: 1, Memory: 1 * gib}
	big   = Resources{CPU: 2, Memory: 2 * gib}
	gpu1  = Resources{CPU: 1, Memory: 1 * gib, GPU: 1}
)

func ptr(n uint32) *uint32 { return &n }

func node(name string, cpu, memGiB uint64, gpu int32) Node {
	return Node{Name: name, Capacity: Resources{CPU: cpu, Memory: memGiB * gib, GPU: gpu}, Ready: true}
}

// sess is a schedulable Host session of priority 0 needing small executors.
func sess(id string, created int64, pending, running int) Session {
	return Session{ID: id, Created: created, Pending: pending, Running: running, ResReq: small, Schedulable: true}
}

func sessWith(s Session, f func(*Session)) Session { f(&s); return s }

func nodeWith(n Node, f func(*Node)) Node { f(&n); return n }

func exec(id, node, session string, state ExecutorState, r Resources) Executor {
	return Executor{ID: id, Node: node, SessionID: session, State: state, ResReq: r}
}

func creates(node string, r Resources, sessions ...string) []Placement {
	var p []Placement
	for _, s := range sessions {
		p = append(p, Placement{SessionID: s, Node: node, ResReq: r})
	}
	return p
}

func TestSchedule(t *testing.T) {
	tests := []struct {
		name string
		snap Snapshot
		want Plan
	}{
		{
			name: "empty snapshot",
		},
		{
			name: "session grows to pending plus running",
			snap: Snapshot{
				Nodes:     []Node{node("n1", 8, 8, 0)},
				Sessions:  []Session{sess("s1", 1, 3, 1)},
				Executors: []Executor{exec("e1", "n1", "s1", ExecutorBound, small)},
			},
			want: Plan{Create: creates("n1", small, "s1", "s1", "s1")},
		},
		{
			name: "session already has what it wants",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 8, 8, 0)},
				Sessions: []Session{sess("s1", 1, 1, 1)},
				Executors: []Executor{
					exec("e1", "n1", "s1", ExecutorBound, small),
					exec("e2", "n1", "s1", ExecutorBinding, small),
				},
			},
		},
		{
			name: "creating and binding executors count, unbinding ones do not",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 8, 8, 0)},
				Sessions: []Session{sess("s1", 1, 4, 0)},
				Executors: []Executor{
					exec("e1", "n1", "s1", ExecutorCreating, small),
					exec("e2", "n1", "s1", ExecutorBinding, small),
					exec("e3", "n1", "s1", ExecutorUnbinding, small),
				},
			},
			want: Plan{Create: creates("n1", small, "s1", "s1")},
		},
		{
			name: "no tasks and no min_instances starts nothing",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 8, 8, 0)},
				Sessions: []Session{sess("s1", 1, 0, 0)},
			},
		},
		{
			name: "min_instances without tasks",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 8, 8, 0)},
				Sessions: []Session{sessWith(sess("s1", 1, 0, 0), func(s *Session) { s.MinInstances = 2 })},
			},
			want: Plan{Create: creates("n1", small, "s1", "s1")},
		},
		{
			name: "min_instances is capped by max_instances",
			snap: Snapshot{
				Nodes: []Node{node("n1", 8, 8, 0)},
				Sessions: []Session{sessWith(sess("s1", 1, 0, 0), func(s *Session) {
					s.MinInstances, s.MaxInstances = 5, ptr(2)
				})},
			},
			want: Plan{Create: creates("n1", small, "s1", "s1")},
		},
		{
			name: "max_instances limits growth",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 8, 8, 0)},
				Sessions: []Session{sessWith(sess("s1", 1, 10, 0), func(s *Session) { s.MaxInstances = ptr(3) })},
			},
			want: Plan{Create: creates("n1", small, "s1", "s1", "s1")},
		},
		{
			name: "application max_instances limits growth",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 8, 8, 0)},
				Sessions: []Session{sessWith(sess("s1", 1, 10, 0), func(s *Session) { s.AppMaxInstances = ptr(2) })},
			},
			want: Plan{Create: creates("n1", small, "s1", "s1")},
		},
		{
			name: "the smaller of session and application max wins",
			snap: Snapshot{
				Nodes: []Node{node("n1", 8, 8, 0)},
				Sessions: []Session{
					sessWith(sess("s1", 1, 10, 0), func(s *Session) { s.MaxInstances, s.AppMaxInstances = ptr(1), ptr(4) }),
					sessWith(sess("s2", 2, 10, 0), func(s *Session) { s.MaxInstances, s.AppMaxInstances = ptr(4), ptr(2) }),
				},
			},
			want: Plan{Create: creates("n1", small, "s1", "s2", "s2")},
		},
		{
			name: "max_instances zero never schedules",
			snap: Snapshot{
				Nodes: []Node{node("n1", 8, 8, 0)},
				Sessions: []Session{sessWith(sess("s1", 1, 10, 0), func(s *Session) {
					s.MinInstances, s.MaxInstances = 1, ptr(0)
				})},
			},
		},
		{
			name: "never shrinks a session over its max",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 8, 8, 0)},
				Sessions: []Session{sessWith(sess("s1", 1, 10, 0), func(s *Session) { s.MaxInstances = ptr(1) })},
				Executors: []Executor{
					exec("e1", "n1", "s1", ExecutorBound, small),
					exec("e2", "n1", "s1", ExecutorBound, small),
				},
			},
		},
		{
			name: "cpu capacity limits growth",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 2, 64, 0)},
				Sessions: []Session{sess("s1", 1, 10, 0)},
			},
			want: Plan{Create: creates("n1", small, "s1", "s1")},
		},
		{
			name: "memory capacity limits growth",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 64, 3, 0)},
				Sessions: []Session{sess("s1", 1, 10, 0)},
			},
			want: Plan{Create: creates("n1", small, "s1", "s1", "s1")},
		},
		{
			name: "gpu capacity limits sessions that request gpus",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 8, 8, 2)},
				Sessions: []Session{sessWith(sess("s1", 1, 10, 0), func(s *Session) { s.ResReq = gpu1 })},
				Executors: []Executor{
					exec("e1", "n1", "other", ExecutorBound, gpu1),
				},
			},
			want: Plan{Create: creates("n1", gpu1, "s1")},
		},
		{
			name: "gpu is not checked for sessions that request none",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 8, 8, 0)},
				Sessions: []Session{sess("s1", 1, 2, 0)},
				Executors: []Executor{
					// Over-committed GPUs do not matter to a cpu-only session.
					exec("e1", "n1", "other", ExecutorBound, gpu1),
				},
			},
			want: Plan{Create: creates("n1", small, "s1", "s1")},
		},
		{
			name: "every state but released occupies capacity",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 8, 64, 0)},
				Sessions: []Session{sess("s1", 1, 10, 0)},
				Executors: []Executor{
					exec("e1", "n1", "gone", ExecutorCreating, small),
					exec("e2", "n1", "gone", ExecutorBinding, small),
					exec("e3", "n1", "gone", ExecutorBound, small),
					exec("e4", "n1", "gone", ExecutorUnbinding, small),
					exec("e5", "n1", "", ExecutorReleasing, small),
					exec("e6", "n1", "", ExecutorUnknown, small),
					exec("e7", "n1", "", ExecutorState(42), small),
					exec("e8", "n1", "", ExecutorReleased, big),
				},
			},
			want: Plan{Create: creates("n1", small, "s1")},
		},
		{
			name: "over-committed node gets nothing",
			snap: Snapshot{
				Nodes:     []Node{node("n1", 1, 64, 0)},
				Sessions:  []Session{sessWith(sess("s1", 1, 1, 0), func(s *Session) { s.ResReq = Resources{} })},
				Executors: []Executor{exec("e1", "n1", "gone", ExecutorBound, big)},
			},
		},
		{
			name: "executors on unknown nodes occupy nothing known",
			snap: Snapshot{
				Nodes:     []Node{node("n1", 1, 64, 0)},
				Sessions:  []Session{sess("s1", 1, 1, 0)},
				Executors: []Executor{exec("e1", "elsewhere", "gone", ExecutorBound, big)},
			},
			want: Plan{Create: creates("n1", small, "s1")},
		},
		{
			name: "two equal sessions share a small node",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 2, 64, 0)},
				Sessions: []Session{sess("s2", 2, 100, 0), sess("s1", 1, 100, 0)},
			},
			want: Plan{Create: creates("n1", small, "s1", "s2")},
		},
		{
			name: "three equal sessions on room for two: oldest first",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 2, 64, 0)},
				Sessions: []Session{sess("s3", 3, 100, 0), sess("s2", 2, 100, 0), sess("s1", 2, 100, 0)},
			},
			want: Plan{Create: creates("n1", small, "s1", "s2")},
		},
		{
			name: "a newcomer catches up before others grow",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 5, 64, 0)},
				Sessions: []Session{sess("old", 1, 100, 0), sess("new", 2, 100, 0)},
				Executors: []Executor{
					exec("e1", "n1", "old", ExecutorBound, small),
					exec("e2", "n1", "old", ExecutorBound, small),
				},
			},
			want: Plan{Create: creates("n1", small, "new", "new", "old")},
		},
		{
			name: "sharing stops at each session's want",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 4, 64, 0)},
				Sessions: []Session{sess("s1", 1, 1, 0), sess("s2", 2, 100, 0)},
			},
			want: Plan{Create: creates("n1", small, "s1", "s2", "s2", "s2")},
		},
		{
			name: "a session that does not fit leaves room to its tier",
			snap: Snapshot{
				Nodes: []Node{node("n1", 3, 64, 0)},
				Sessions: []Session{
					sessWith(sess("s1", 1, 10, 0), func(s *Session) { s.ResReq = big }),
					sess("s2", 2, 10, 0),
				},
			},
			// s1 gets 2 cpus, s2 1; then s1 does not fit any more and s2
			// has nothing left either.
			want: Plan{Create: append(creates("n1", big, "s1"), creates("n1", small, "s2")...)},
		},
		{
			name: "higher priority is served first",
			snap: Snapshot{
				Nodes: []Node{node("n1", 2, 64, 0)},
				Sessions: []Session{
					sess("low", 1, 10, 0),
					sessWith(sess("high", 2, 10, 0), func(s *Session) { s.Priority = 5 }),
				},
			},
			want: Plan{Create: creates("n1", small, "high", "high")},
		},
		{
			name: "uncovered higher tier blocks growth of lower tiers",
			snap: Snapshot{
				Nodes: []Node{node("n1", 3, 64, 0)},
				Sessions: []Session{
					sess("low", 1, 10, 0),
					sessWith(sess("high", 2, 10, 0), func(s *Session) { s.Priority = 5; s.ResReq = big }),
				},
			},
			// high gets one big executor and cannot place a second in the
			// one cpu left; low may not take it.
			want: Plan{Create: creates("n1", big, "high")},
		},
		{
			name: "covered higher tier lets lower tiers grow",
			snap: Snapshot{
				Nodes: []Node{node("n1", 8, 64, 0)},
				Sessions: []Session{
					sess("low", 1, 2, 0),
					sessWith(sess("high", 2, 1, 0), func(s *Session) { s.Priority = 5 }),
				},
			},
			want: Plan{Create: creates("n1", small, "high", "low", "low")},
		},
		{
			name: "higher tier at its max with pending tasks does not block",
			snap: Snapshot{
				Nodes: []Node{node("n1", 8, 64, 0)},
				Sessions: []Session{
					sess("low", 1, 1, 0),
					sessWith(sess("high", 2, 10, 0), func(s *Session) { s.Priority = 5; s.MaxInstances = ptr(1) }),
				},
			},
			want: Plan{Create: creates("n1", small, "high", "low")},
		},
		{
			name: "unservable higher tiers do not block",
			snap: Snapshot{
				Nodes: []Node{node("n1", 8, 64, 0)},
				Sessions: []Session{
					sess("low", 1, 1, 0),
					sessWith(sess("wasm", 2, 10, 0), func(s *Session) { s.Priority = 9; s.Shim = ShimWasm }),
					sessWith(sess("huge", 3, 10, 0), func(s *Session) { s.Priority = 8; s.ResReq.CPU = 100 }),
					sessWith(sess("retried", 4, 10, 0), func(s *Session) { s.Priority = 7; s.Schedulable = false }),
				},
			},
			want: Plan{
				Create: creates("n1", small, "low"),
				Notes: []Note{
					{SessionID: "wasm", Reason: NoteShimUnsupported},
					{SessionID: "huge", Reason: NoteNoNodeFits},
				},
			},
		},
		{
			name: "blocked tiers still get min_instances from what is left",
			snap: Snapshot{
				Nodes: []Node{node("n1", 4, 64, 0)},
				Sessions: []Session{
					sessWith(sess("high", 1, 1, 0), func(s *Session) { s.Priority = 5; s.ResReq.CPU = 4 }),
					sessWith(sess("low-min", 2, 5, 0), func(s *Session) { s.MinInstances = 1 }),
					sess("low", 3, 5, 0),
					sessWith(sess("lower-min", 4, 0, 0), func(s *Session) { s.Priority = 0; s.MinInstances = 2 }),
				},
				Executors: []Executor{exec("e1", "n1", "gone", ExecutorBound, small)},
			},
			want: Plan{Create: creates("n1", small, "low-min", "lower-min", "lower-min")},
		},
		{
			name: "a blocking tier's own min sessions are not blocked",
			snap: Snapshot{
				Nodes: []Node{node("n1", 2, 64, 0)},
				Sessions: []Session{
					sess("a", 1, 10, 0),
					sessWith(sess("b", 2, 0, 0), func(s *Session) { s.MinInstances = 1 }),
				},
			},
			want: Plan{Create: creates("n1", small, "a", "b")},
		},
		{
			name: "idle executor with equal resreq is bound instead of creating",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 2, 64, 0)},
				Sessions: []Session{sess("s1", 1, 1, 0)},
				Executors: []Executor{
					exec("e2", "n1", "", ExecutorIdle, small),
					exec("e1", "n1", "", ExecutorIdle, small),
				},
			},
			want: Plan{Bind: []Binding{{ExecutorID: "e1", SessionID: "s1"}}, Release: []string{"e2"}},
		},
		{
			name: "binding an idle executor needs no free capacity",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 1, 64, 0)},
				Sessions: []Session{sess("s1", 1, 5, 0)},
				Executors: []Executor{
					exec("e1", "n1", "was-someone", ExecutorIdle, small),
				},
			},
			want: Plan{Bind: []Binding{{ExecutorID: "e1", SessionID: "s1"}}},
		},
		{
			name: "idle executor with another resreq is released, not bound",
			snap: Snapshot{
				Nodes:     []Node{node("n1", 8, 64, 0)},
				Sessions:  []Session{sess("s1", 1, 1, 0)},
				Executors: []Executor{exec("e1", "n1", "", ExecutorIdle, big)},
			},
			want: Plan{Create: creates("n1", small, "s1"), Release: []string{"e1"}},
		},
		{
			name: "idle executors nobody needs are released",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 8, 64, 0)},
				Sessions: []Session{sess("s1", 1, 0, 0)},
				Executors: []Executor{
					exec("e3", "n1", "", ExecutorIdle, small),
					exec("e1", "n1", "", ExecutorIdle, big),
					exec("e2", "n1", "s1", ExecutorBound, small),
				},
			},
			want: Plan{Release: []string{"e1", "e3"}},
		},
		{
			name: "idle executors go to the highest priority first",
			snap: Snapshot{
				Nodes: []Node{node("n1", 1, 64, 0)},
				Sessions: []Session{
					sess("low", 1, 1, 0),
					sessWith(sess("high", 2, 1, 0), func(s *Session) { s.Priority = 1 }),
				},
				Executors: []Executor{exec("e1", "n1", "", ExecutorIdle, small)},
			},
			want: Plan{Bind: []Binding{{ExecutorID: "e1", SessionID: "high"}}},
		},
		{
			name: "idle executors on a node that is not ready are released",
			snap: Snapshot{
				Nodes: []Node{
					nodeWith(node("down", 8, 64, 0), func(n *Node) { n.Ready = false }),
					node("up", 8, 64, 0),
				},
				Sessions: []Session{sess("s1", 1, 1, 0)},
				Executors: []Executor{
					exec("e1", "down", "", ExecutorIdle, small),
					exec("e2", "nowhere", "", ExecutorIdle, small),
				},
			},
			want: Plan{Create: creates("up", small, "s1"), Release: []string{"e1", "e2"}},
		},
		{
			name: "wasm session gets a note and nothing else",
			snap: Snapshot{
				Nodes:     []Node{node("n1", 8, 64, 0)},
				Sessions:  []Session{sessWith(sess("w", 1, 1, 0), func(s *Session) { s.Shim = ShimWasm })},
				Executors: []Executor{exec("e1", "n1", "", ExecutorIdle, small)},
			},
			want: Plan{
				Release: []string{"e1"},
				Notes:   []Note{{SessionID: "w", Reason: NoteShimUnsupported}},
			},
		},
		{
			name: "wasm session without demand gets no note",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 8, 64, 0)},
				Sessions: []Session{sessWith(sess("w", 1, 0, 0), func(s *Session) { s.Shim = ShimWasm })},
			},
		},
		{
			name: "unknown shim is unsupported too",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 8, 64, 0)},
				Sessions: []Session{sessWith(sess("x", 1, 0, 0), func(s *Session) { s.Shim = 7; s.MinInstances = 1 })},
			},
			want: Plan{Notes: []Note{{SessionID: "x", Reason: NoteShimUnsupported}}},
		},
		{
			name: "resreq larger than every node gets a note",
			snap: Snapshot{
				Nodes: []Node{node("n1", 8, 4, 0), node("n2", 2, 64, 0)},
				Sessions: []Session{
					// Each field fits some node, but no node fits all.
					sessWith(sess("s1", 1, 1, 0), func(s *Session) { s.ResReq = Resources{CPU: 4, Memory: 8 * gib} }),
					sessWith(sess("s2", 1, 1, 0), func(s *Session) { s.ResReq = gpu1 }),
				},
			},
			want: Plan{Notes: []Note{
				{SessionID: "s1", Reason: NoteNoNodeFits},
				{SessionID: "s2", Reason: NoteNoNodeFits},
			}},
		},
		{
			name: "resreq that fits only a node that is down gets no note",
			snap: Snapshot{
				Nodes: []Node{
					nodeWith(node("big", 8, 64, 0), func(n *Node) { n.Ready = false }),
					node("small", 1, 64, 0),
				},
				Sessions: []Session{sessWith(sess("s1", 1, 1, 0), func(s *Session) { s.ResReq = big })},
			},
		},
		{
			name: "no nodes at all gives no note",
			snap: Snapshot{Sessions: []Session{sess("s1", 1, 1, 0)}},
		},
		{
			name: "session at the retry limit gets nothing and no note",
			snap: Snapshot{
				Nodes: []Node{node("n1", 8, 64, 0)},
				Sessions: []Session{
					sessWith(sess("s1", 1, 3, 0), func(s *Session) { s.Schedulable = false; s.MinInstances = 1 }),
					sessWith(sess("s2", 1, 3, 0), func(s *Session) { s.Schedulable = false; s.Shim = ShimWasm }),
				},
				Executors: []Executor{exec("e1", "n1", "", ExecutorIdle, small)},
			},
			want: Plan{Release: []string{"e1"}},
		},
		{
			name: "nodes that are not ready get no executors",
			snap: Snapshot{
				Nodes:    []Node{nodeWith(node("n1", 8, 64, 0), func(n *Node) { n.Ready = false })},
				Sessions: []Session{sess("s1", 1, 3, 0)},
			},
		},
		{
			name: "most room first, then fewer executors, then name",
			snap: Snapshot{
				Nodes: []Node{node("c", 2, 64, 0), node("b", 4, 64, 0), node("a", 4, 64, 0)},
				Sessions: []Session{
					sess("s1", 1, 6, 0),
				},
				Executors: []Executor{exec("e1", "a", "gone", ExecutorReleased, small)},
			},
			// Room a=4 b=4 c=2: a (name), b (fewer executors), a, b (room
			// 3 > c's 2); then all have room 2: c (no executors), a (name).
			want: Plan{Create: []Placement{
				{SessionID: "s1", Node: "a", ResReq: small},
				{SessionID: "s1", Node: "b", ResReq: small},
				{SessionID: "s1", Node: "a", ResReq: small},
				{SessionID: "s1", Node: "b", ResReq: small},
				{SessionID: "s1", Node: "c", ResReq: small},
				{SessionID: "s1", Node: "a", ResReq: small},
			}},
		},
		{
			name: "room counts the scarcest requested resource",
			snap: Snapshot{
				// a has more cpu, b more memory; in units of big, a has
				// room for 1 (memory) and b for 2.
				Nodes:    []Node{node("a", 16, 2, 0), node("b", 4, 64, 0)},
				Sessions: []Session{sessWith(sess("s1", 1, 1, 0), func(s *Session) { s.ResReq = big })},
			},
			want: Plan{Create: creates("b", big, "s1")},
		},
		{
			name: "gpu sessions go to the node with gpus",
			snap: Snapshot{
				Nodes:    []Node{node("a", 64, 64, 0), node("b", 2, 64, 1)},
				Sessions: []Session{sessWith(sess("s1", 1, 3, 0), func(s *Session) { s.ResReq = gpu1 })},
			},
			want: Plan{Create: creates("b", gpu1, "s1")},
		},
		{
			name: "max executors per node caps zero-resource sessions",
			snap: Snapshot{
				Nodes: []Node{
					nodeWith(node("a", 2, 64, 0), func(n *Node) { n.MaxExecutors = 2 }),
					nodeWith(node("b", 2, 64, 0), func(n *Node) { n.MaxExecutors = 1 }),
				},
				Sessions:  []Session{sessWith(sess("s1", 1, 100, 0), func(s *Session) { s.ResReq = Resources{} })},
				Executors: []Executor{exec("e1", "a", "s1", ExecutorBound, Resources{})},
			},
			// Room 1 on each; b has fewer executors.
			want: Plan{Create: []Placement{{SessionID: "s1", Node: "b"}, {SessionID: "s1", Node: "a"}}},
		},
		{
			name: "zero-resource sessions spread over nodes",
			snap: Snapshot{
				Nodes:    []Node{node("a", 2, 64, 0), node("b", 2, 64, 0)},
				Sessions: []Session{sessWith(sess("s1", 1, 3, 0), func(s *Session) { s.ResReq = Resources{} })},
			},
			want: Plan{Create: []Placement{
				{SessionID: "s1", Node: "a"}, {SessionID: "s1", Node: "b"}, {SessionID: "s1", Node: "a"},
			}},
		},
		{
			name: "executor IDs that occur twice are neither bound nor released",
			snap: Snapshot{
				Nodes:    []Node{node("n1", 2, 64, 0)},
				Sessions: []Session{sess("s1", 1, 1, 0)},
				Executors: []Executor{
					exec("dup", "n1", "", ExecutorIdle, small),
					exec("dup", "n1", "x", ExecutorBound, small),
					exec("twice", "n1", "", ExecutorIdle, small),
					exec("twice", "n1", "", ExecutorIdle, small),
				},
			},
		},
		{
			name: "bad counts and gpu values do not panic",
			snap: Snapshot{
				Nodes: []Node{
					{Name: "n1", Capacity: Resources{CPU: 2, Memory: 64 * gib, GPU: -3}, Ready: true},
				},
				Sessions: []Session{
					{ID: "s1", Pending: -5, Running: -1, Schedulable: true, ResReq: small, MinInstances: 1},
					{ID: "s2", Pending: 1, Schedulable: true, ResReq: Resources{CPU: 1, Memory: gib, GPU: -1}},
				},
				Executors: []Executor{
					exec("e1", "n1", "", ExecutorIdle, Resources{CPU: 1, Memory: gib, GPU: -7}),
				},
			},
			// A negative GPU count is 0: e1 matches both sessions' resreq.
			want: Plan{
				Bind:   []Binding{{ExecutorID: "e1", SessionID: "s1"}},
				Create: creates("n1", small, "s2"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Schedule(tt.snap)
			opts := cmp.Options{
				cmpopts.EquateEmpty(),
				cmpopts.IgnoreFields(Note{}, "Message"),
			}
			if diff := cmp.Diff(tt.want, got, opts); diff != "" {
				t.Errorf("Schedule() mismatch (-want +got):\n%s", diff)
			}
			checkPlan(t, tt.snap, got)
		})
	}
}

func TestSchedule_MaxGrants(t *testing.T) {
	snap := Snapshot{
		Nodes: []Node{{Name: "n1", Capacity: Resources{CPU: math.MaxUint64, Memory: math.MaxUint64}, Ready: true}},
		Sessions: []Session{
			sessWith(sess("zero", 1, math.MaxInt, math.MaxInt), func(s *Session) { s.ResReq = Resources{} }),
			sess("later", 2, math.MaxInt, 0),
		},
		Executors: []Executor{exec("e1", "n1", "", ExecutorIdle, small)},
	}
	plan := Schedule(snap)
	if len(plan.Bind) != 1 || len(plan.Create) != MaxGrants-1 {
		t.Fatalf("plan has %d binds and %d creates, want 1 and %d", len(plan.Bind), len(plan.Create), MaxGrants-1)
	}
	// Water-filling alternates between the two sessions until the bound.
	got := map[string]int{plan.Bind[0].SessionID: 1}
	for _, c := range plan.Create {
		got[c.SessionID]++
	}
	if want := map[string]int{"zero": MaxGrants / 2, "later": MaxGrants / 2}; !cmp.Equal(got, want) {
		t.Errorf("grants per session = %v, want %v", got, want)
	}
	checkPlan(t, snap, plan)
}

func TestSchedule_NoteMessages(t *testing.T) {
	snap := Snapshot{
		Nodes: []Node{node("n1", 2, 4, 0), node("n2", 2, 4, 0), node("n3", 2, 4, 0), node("n4", 2, 4, 0)},
		Sessions: []Session{
			sessWith(sess("w", 1, 1, 0), func(s *Session) { s.Shim = ShimWasm }),
			sessWith(sess("huge", 2, 1, 0), func(s *Session) { s.ResReq = Resources{CPU: 8, Memory: 512 << 20, GPU: 1} }),
		},
	}
	got := Schedule(snap).Notes
	want := []Note{
		{
			SessionID: "w",
			Reason:    NoteShimUnsupported,
			Message: "no node supports the Wasm shim, so the session's tasks stay pending; " +
				"close the session and run the application with shim Host",
		},
		{
			SessionID: "huge",
			Reason:    NoteNoNodeFits,
			Message: "resource requirement cpu=8,mem=512m,gpu=1 exceeds the capacity of every node " +
				"(n1: cpu=2,mem=4g,gpu=0; n2: cpu=2,mem=4g,gpu=0; n3: cpu=2,mem=4g,gpu=0 and 1 more), " +
				"so the session's tasks stay pending; create the session with a smaller resreq",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("notes mismatch (-want +got):\n%s", diff)
	}
}

func TestSchedule_DuplicateSessionsAndNodes(t *testing.T) {
	// For duplicates the copy that sorts first by every field is used,
	// whatever the input order.
	a := Snapshot{
		Nodes: []Node{
			node("n1", 4, 64, 0),
			nodeWith(node("n1", 4, 64, 0), func(n *Node) { n.Ready = false }),
		},
		Sessions: []Session{sess("s1", 1, 3, 0), sess("s1", 1, 1, 0)},
	}
	b := Snapshot{
		Nodes:    []Node{a.Nodes[1], a.Nodes[0]},
		Sessions: []Session{a.Sessions[1], a.Sessions[0]},
	}
	// The not-Ready copy of n1 sorts first (false < true), so nothing is
	// created.
	for _, snap := range []Snapshot{a, b} {
		if got := Schedule(snap); !cmp.Equal(got, Plan{}, cmpopts.EquateEmpty()) {
			t.Errorf("Schedule() = %+v, want an empty plan", got)
		}
	}
	a.Nodes[1].Ready = true
	b.Nodes[0].Ready = true
	want := Plan{Create: creates("n1", small, "s1")} // the copy with Pending 1 sorts first
	for _, snap := range []Snapshot{a, b} {
		if diff := cmp.Diff(want, Schedule(snap), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Schedule() mismatch (-want +got):\n%s", diff)
		}
	}
}

func TestSchedule_DuplicateSessionsDifferingInMax(t *testing.T) {
	unlimited := sess("s1", 1, 3, 0)
	limited := sessWith(unlimited, func(s *Session) { s.MaxInstances = ptr(1) })
	want := Plan{Create: creates("n1", small, "s1")} // a set max sorts before nil
	for _, sessions := range [][]Session{{unlimited, limited}, {limited, unlimited}} {
		snap := Snapshot{Nodes: []Node{node("n1", 8, 64, 0)}, Sessions: sessions}
		if diff := cmp.Diff(want, Schedule(snap), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Schedule() mismatch (-want +got):\n%s", diff)
		}
	}
}

func TestSchedule_SaturatingSums(t *testing.T) {
	huge := Resources{CPU: math.MaxUint64, Memory: math.MaxUint64}
	snap := Snapshot{
		Nodes: []Node{{Name: "n1", Capacity: huge, Ready: true}},
		Sessions: []Session{
			sess("s1", 1, 1, 0),
			sessWith(sess("s2", 2, 1, 0), func(s *Session) { s.ResReq = Resources{} }),
		},
		Executors: []Executor{
			exec("e1", "n1", "x", ExecutorBound, huge),
			exec("e2", "n1", "x", ExecutorBound, huge),
		},
	}
	// The sums saturate at the capacity instead of wrapping to a small
	// number: the node is full for s1, and a zero request still fits.
	want := Plan{Create: []Placement{{SessionID: "s2", Node: "n1"}}}
	if diff := cmp.Diff(want, Schedule(snap), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Schedule() mismatch (-want +got):\n%s", diff)
	}
}

func TestSchedule_DoesNotModifySnapshot(t *testing.T) {
	snap := Snapshot{
		Nodes: []Node{node("b", 8, 64, 0), node("a", 8, 64, 0)},
		Sessions: []Session{
			{ID: "s2", Pending: 3, ResReq: Resources{CPU: 1, GPU: -1}, Schedulable: true},
			sess("s1", 1, 2, 0),
		},
		Executors: []Executor{exec("z", "a", "", ExecutorIdle, small), exec("y", "b", "", ExecutorIdle, small)},
	}
	before := cloneSnapshot(snap)
	Schedule(snap)
	if diff := cmp.Diff(before, snap); diff != "" {
		t.Errorf("Schedule modified its input (-before +after):\n%s", diff)
	}
}

// TestEnumsMatchWire pins the values that let the session manager convert
// wire enums with a cast.
func TestEnumsMatchWire(t *testing.T) {
	states := map[ExecutorState]flamev1.ExecutorState{
		ExecutorUnknown:   flamev1.ExecutorState_ExecutorUnknown,
		ExecutorCreating:  flamev1.ExecutorState_ExecutorVoid,
		ExecutorIdle:      flamev1.ExecutorState_ExecutorIdle,
		ExecutorBinding:   flamev1.ExecutorState_ExecutorBinding,
		ExecutorBound:     flamev1.ExecutorState_ExecutorBound,
		ExecutorUnbinding: flamev1.ExecutorState_ExecutorUnbinding,
		ExecutorReleasing: flamev1.ExecutorState_ExecutorReleasing,
		ExecutorReleased:  flamev1.ExecutorState_ExecutorReleased,
	}
	for ours, wire := range states {
		if int32(ours) != int32(wire) {
			t.Errorf("%v = %d, wire %v = %d", ours, ours, wire, wire)
		}
	}
	if int32(ShimHost) != int32(flamev1.Shim_Host) || int32(ShimWasm) != int32(flamev1.Shim_Wasm) {
		t.Errorf("shim values differ from the wire enum")
	}
}

func TestStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{Resources{CPU: 1, Memory: gib}.String(), "cpu=1,mem=1g,gpu=0"},
		{Resources{CPU: 2, Memory: 1536 << 20, GPU: 1}.String(), "cpu=2,mem=1536m,gpu=1"},
		{Resources{Memory: 1000}.String(), "cpu=0,mem=1000,gpu=0"},
		{Resources{}.String(), "cpu=0,mem=0,gpu=0"},
		{ExecutorCreating.String(), "Creating"},
		{ExecutorReleased.String(), "Released"},
		{ExecutorState(-1).String(), "ExecutorState(-1)"},
		{ExecutorState(9).String(), "ExecutorState(9)"},
		{ShimHost.String(), "Host"},
		{ShimWasm.String(), "Wasm"},
		{Shim(5).String(), "Shim(5)"},
		{NoteShimUnsupported.String(), "ShimUnsupported"},
		{NoteNoNodeFits.String(), "NoNodeFits"},
		{NoteReason(0).String(), "NoteReason(0)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
