package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// benchSnapshot builds a busy cluster: nodes with room for about
// 1.2 executors per executor present, sessions in three priority tiers with
// 0–10 pending tasks, and executorsPerSession executors per session in a mix
// of states (mostly Bound, some Idle without a session).
func benchSnapshot(sessions, executorsPerSession, nodes int) Snapshot {
	r := rand.New(rand.NewPCG(1, 2))
	var snap Snapshot
	total := max(sessions*executorsPerSession, sessions*4)
	perNode := uint64(total*6/5/nodes + 1)
	for i := range nodes {
		snap.Nodes = append(snap.Nodes, Node{
			Name:     fmt.Sprintf("node-%d", i),
			Capacity: Resources{CPU: perNode * 2, Memory: perNode * 4 * gib},
			Ready:    true,
		})
	}
	reqs := []Resources{{CPU: 1, Memory: gib}, {CPU: 1, Memory: gib}, {CPU: 1, Memory: gib}, {CPU: 2, Memory: 4 * gib}}
	for i := range sessions {
		s := Session{
			ID:          fmt.Sprintf("app-%06d", i),
			Priority:    uint32(i % 3),
			Created:     int64(r.IntN(1000)),
			Pending:     r.IntN(11),
			Running:     r.IntN(3),
			ResReq:      reqs[r.IntN(len(reqs))],
			Schedulable: r.IntN(50) != 0,
		}
		if r.IntN(4) == 0 {
			s.MinInstances = 1
		}
		if r.IntN(3) == 0 {
			s.MaxInstances = ptr(uint32(2 + r.IntN(6)))
		}
		snap.Sessions = append(snap.Sessions, s)
	}
	states := []ExecutorState{
		ExecutorBound, ExecutorBound, ExecutorBound, ExecutorBound, ExecutorBound, ExecutorBound,
		ExecutorBinding, ExecutorCreating, ExecutorUnbinding, ExecutorIdle, ExecutorReleasing,
	}
	for i := range sessions * executorsPerSession {
		s := snap.Sessions[i%sessions]
		e := Executor{
			ID:        fmt.Sprintf("exec-%07d", i),
			Node:      snap.Nodes[r.IntN(nodes)].Name,
			SessionID: s.ID,
			State:     states[r.IntN(len(states))],
			ResReq:    s.ResReq,
		}
		if e.State == ExecutorIdle || e.State == ExecutorReleasing {
			e.SessionID = ""
			if r.IntN(4) == 0 {
				e.ResReq = Resources{CPU: 1, Memory: 2 * gib} // nobody's resreq: released
			}
		}
		snap.Executors = append(snap.Executors, e)
	}
	return snap
}

// BenchmarkSchedule measures one Schedule call. "clone" is the baseline: the
// cost of copying the same snapshot's three slices, which the caller pays
// anyway to take a snapshot under its lock.
func BenchmarkSchedule(b *testing.B) {
	cases := []struct {
		name string
		snap Snapshot
	}{
		{"steady/sessions=1000/executors=4000/nodes=4", benchSnapshot(1000, 4, 4)},
		{"cold/sessions=1000/executors=0/nodes=4", benchSnapshot(1000, 0, 4)},
		{"steady/sessions=100/executors=400/nodes=1", benchSnapshot(100, 4, 1)},
	}
	for _, c := range cases {
		plan := Schedule(c.snap)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Schedule(c.snap)
			}
			b.ReportMetric(float64(len(plan.Bind)+len(plan.Create)), "grants")
		})
		b.Run("clone/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cloneSnapshot(c.snap)
			}
		})
	}
}

// TestBenchSnapshotIsBusy keeps the benchmark honest: its snapshots must
// make Schedule bind, create, release and block, not return an empty plan.
func TestBenchSnapshotIsBusy(t *testing.T) {
	snap := benchSnapshot(1000, 4, 4)
	plan := Schedule(snap)
	if len(plan.Bind) == 0 || len(plan.Create) == 0 || len(plan.Release) == 0 {
		t.Errorf("plan has %d binds, %d creates, %d releases; want some of each",
			len(plan.Bind), len(plan.Create), len(plan.Release))
	}
	checkPlan(t, snap, plan)
	granted := map[string]bool{}
	for _, c := range plan.Create {
		granted[c.SessionID] = true
	}
	if !slices.ContainsFunc(snap.Sessions, func(s Session) bool { return s.Pending > 0 && !granted[s.ID] }) {
		t.Errorf("every session with pending tasks got an executor; want capacity to run short")
	}
}
