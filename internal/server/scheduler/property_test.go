package scheduler

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzSchedule checks the scheduler's invariants (checkPlan) on random
// snapshots. The seed corpus runs with every `go test`; `go test -fuzz
// FuzzSchedule` explores further.
func FuzzSchedule(f *testing.F) {
	for seed := range uint64(600) {
		f.Add(seed, seed*0x9e3779b97f4a7c15)
	}
	f.Fuzz(func(t *testing.T, s1, s2 uint64) {
		r := rand.New(rand.NewPCG(s1, s2))
		snap := genSnapshot(r)
		plan := Schedule(snap)
		checkPlan(t, snap, plan)
		shuffled := cloneSnapshot(snap)
		r.Shuffle(len(shuffled.Nodes), func(i, j int) {
			shuffled.Nodes[i], shuffled.Nodes[j] = shuffled.Nodes[j], shuffled.Nodes[i]
		})
		r.Shuffle(len(shuffled.Sessions), func(i, j int) {
			shuffled.Sessions[i], shuffled.Sessions[j] = shuffled.Sessions[j], shuffled.Sessions[i]
		})
		r.Shuffle(len(shuffled.Executors), func(i, j int) {
			shuffled.Executors[i], shuffled.Executors[j] = shuffled.Executors[j], shuffled.Executors[i]
		})
		if diff := cmp.Diff(plan, Schedule(shuffled)); diff != "" {
			t.Errorf("plan depends on the input order (-sorted +shuffled):\n%s", diff)
		}
	})
}

var genResReqs = []Resources{
	{CPU: 1, Memory: 1 * gib},
	{CPU: 1, Memory: 1 * gib},
	{CPU: 2, Memory: 2 * gib},
	{CPU: 1, Memory: 4 * gib},
	{CPU: 1, Memory: 1 * gib, GPU: 1},
	{CPU: 4, Memory: 8 * gib},
	{},
}

// genSnapshot builds a random snapshot. Three in four are consistent (every
// node within its capacity, unique names and IDs, sane counts); the rest
// add bad input: negative counts and GPUs, huge values, duplicate executor
// IDs, undefined states, over-committed nodes.
func genSnapshot(r *rand.Rand) Snapshot {
	garbage := r.IntN(4) == 0
	var snap Snapshot
	nodes := r.IntN(5)
	if r.IntN(8) == 0 {
		nodes = r.IntN(3 * smallNodes / 2) // also cover the by-name map
	}
	for i := range nodes {
		n := Node{
			Name:     string(rune('a' + i)),
			Capacity: Resources{CPU: r.Uint64N(17), Memory: r.Uint64N(33) * gib, GPU: int32(r.IntN(3))},
			Ready:    r.IntN(5) != 0,
		}
		if r.IntN(4) == 0 {
			n.MaxExecutors = r.IntN(7)
		}
		if garbage && r.IntN(4) == 0 {
			n.Capacity = Resources{CPU: math.MaxUint64 - r.Uint64N(3), Memory: math.MaxUint64, GPU: -int32(r.IntN(3))}
		}
		snap.Nodes = append(snap.Nodes, n)
	}
	for i := range r.IntN(9) {
		s := Session{
			ID:           "s" + string(rune('0'+i)),
			Priority:     uint32(r.IntN(3)),
			Created:      int64(r.IntN(4)),
			Pending:      r.IntN(11),
			Running:      r.IntN(4),
			MinInstances: uint32(r.IntN(4)),
			ResReq:       genResReqs[r.IntN(len(genResReqs))],
			Schedulable:  r.IntN(10) != 0,
		}
		if r.IntN(3) == 0 {
			s.MaxInstances = ptr(uint32(r.IntN(6)))
		}
		if r.IntN(3) == 0 {
			s.AppMaxInstances = ptr(uint32(r.IntN(6)))
		}
		if r.IntN(10) == 0 {
			s.Shim = ShimWasm
		}
		if garbage {
			switch r.IntN(6) {
			case 0:
				s.Pending, s.Running = -r.IntN(5), math.MaxInt
			case 1:
				s.Pending, s.Running = math.MaxInt, math.MaxInt
				s.MaxInstances = ptr(uint32(r.IntN(6)))
			case 2:
				s.ResReq.GPU = -1
			case 3:
				s.MinInstances = math.MaxUint32
				s.AppMaxInstances = ptr(uint32(r.IntN(6)))
			}
		}
		snap.Sessions = append(snap.Sessions, s)
	}
	used := make([]usage, len(snap.Nodes))
	for i := range r.IntN(25) {
		e := Executor{
			ID:     "e" + string(rune('A'+i)),
			State:  ExecutorState(1 + r.IntN(7)),
			ResReq: genResReqs[r.IntN(len(genResReqs))],
		}
		if e.State.counts() || (e.State == ExecutorUnbinding && r.IntN(2) == 0) {
			if len(snap.Sessions) > 0 && r.IntN(8) != 0 {
				e.SessionID = snap.Sessions[r.IntN(len(snap.Sessions))].ID
				if r.IntN(2) == 0 {
					e.ResReq = snap.Sessions[slices.IndexFunc(snap.Sessions, func(s Session) bool {
						return s.ID == e.SessionID
					})].ResReq.normalized()
				}
			} else {
				e.SessionID = "closed"
			}
		}
		if garbage {
			switch r.IntN(6) {
			case 0:
				e.State = ExecutorState(r.IntN(20) - 5)
			case 1:
				e.ID = "eA" // a likely duplicate
			case 2:
				e.ResReq.GPU = -2
			}
		}
		if len(snap.Nodes) == 0 || r.IntN(20) == 0 {
			e.Node = "gone"
			snap.Executors = append(snap.Executors, e)
			continue
		}
		ni := r.IntN(len(snap.Nodes))
		e.Node = snap.Nodes[ni].Name
		n, u, rr := snap.Nodes[ni], used[ni], e.ResReq.normalized()
		fits := u.cpu+rr.CPU <= n.Capacity.CPU && u.mem+rr.Memory <= n.Capacity.Memory &&
			u.gpu+int64(rr.GPU) <= int64(n.Capacity.GPU)
		if !garbage && e.State.occupies() && !fits {
			continue
		}
		if e.State.occupies() {
			used[ni].cpu = satAdd(u.cpu, rr.CPU)
			used[ni].mem = satAdd(u.mem, rr.Memory)
			used[ni].gpu += int64(rr.GPU)
		}
		snap.Executors = append(snap.Executors, e)
	}
	return snap
}

func cloneSnapshot(s Snapshot) Snapshot {
	return Snapshot{
		Nodes:     slices.Clone(s.Nodes),
		Sessions:  slices.Clone(s.Sessions),
		Executors: slices.Clone(s.Executors),
	}
}

// model is an independent reading of a snapshot by the rules in doc.go,
// used to check plans.
type model struct {
	nodes    map[string]Node
	sessions []Session // schedule order, unique
	byID     map[string]int
	idCount  map[string]int
	execs    map[string]Executor // unique IDs only
	have     map[string]int64
	used     map[string]usage
	count    map[string]int64
}

func newModel(snap Snapshot) *model {
	m := &model{
		nodes:   map[string]Node{},
		byID:    map[string]int{},
		idCount: map[string]int{},
		execs:   map[string]Executor{},
		have:    map[string]int64{},
		used:    map[string]usage{},
		count:   map[string]int64{},
	}
	nodes := slices.Clone(snap.Nodes)
	slices.SortFunc(nodes, cmpNode)
	for _, n := range nodes {
		if _, dup := m.nodes[n.Name]; !dup {
			n.Capacity = n.Capacity.normalized()
			m.nodes[n.Name] = n
		}
	}
	sessions := slices.Clone(snap.Sessions)
	slices.SortFunc(sessions, func(a, b Session) int { return cmpSession(&a, &b) })
	for _, s := range sessions {
		if _, dup := m.byID[s.ID]; !dup {
			s.ResReq = s.ResReq.normalized()
			m.byID[s.ID] = len(m.sessions)
			m.sessions = append(m.sessions, s)
		}
	}
	for _, e := range snap.Executors {
		m.idCount[e.ID]++
		m.execs[e.ID] = e
		if _, ok := m.byID[e.SessionID]; ok && (e.State == ExecutorCreating || e.State == ExecutorBinding || e.State == ExecutorBound) {
			m.have[e.SessionID]++
		}
		if _, ok := m.nodes[e.Node]; ok && e.State != ExecutorReleased {
			m.occupy(e.Node, e.ResReq)
		}
	}
	return m
}

func (m *model) occupy(node string, r Resources) {
	r = r.normalized()
	u := m.used[node]
	u.cpu, u.mem, u.gpu = satAdd(u.cpu, r.CPU), satAdd(u.mem, r.Memory), u.gpu+int64(r.GPU)
	m.used[node] = u
	m.count[node]++
}

// fitsNow reports whether one more executor needing r may go on the node.
func (m *model) fitsNow(name string, r Resources) bool {
	n, u := m.nodes[name], m.used[name]
	c := n.Capacity
	ok := n.Ready && u.cpu <= c.CPU && r.CPU <= c.CPU-u.cpu && u.mem <= c.Memory && r.Memory <= c.Memory-u.mem &&
		(r.GPU == 0 || u.gpu+int64(r.GPU) <= int64(c.GPU))
	return ok && (n.MaxExecutors <= 0 || m.count[name] < int64(n.MaxExecutors))
}

func (m *model) limits(s Session) (minEff, want int64) {
	maxEff := int64(math.MaxInt64)
	if s.MaxInstances != nil {
		maxEff = min(maxEff, int64(*s.MaxInstances))
	}
	if s.AppMaxInstances != nil {
		maxEff = min(maxEff, int64(*s.AppMaxInstances))
	}
	minEff = min(int64(s.MinInstances), maxEff)
	demand := int64(max(s.Pending, 0))
	if run := int64(max(s.Running, 0)); demand > math.MaxInt64-run {
		demand = math.MaxInt64
	} else {
		demand += run
	}
	return minEff, min(max(demand, minEff), maxEff)
}

func (m *model) servable(s Session) bool {
	if !s.Schedulable || s.Shim != ShimHost {
		return false
	}
	for _, n := range m.nodes {
		if s.ResReq.CPU <= n.Capacity.CPU && s.ResReq.Memory <= n.Capacity.Memory &&
			(s.ResReq.GPU == 0 || s.ResReq.GPU <= n.Capacity.GPU) {
			return true
		}
	}
	return false
}

// checkPlan checks every rule of the package documentation that can be
// checked from the snapshot and the plan alone.
func checkPlan(t *testing.T, snap Snapshot, plan Plan) {
	t.Helper()
	m := newModel(snap)
	haveBefore := maps(m.have)

	// Binds: unique Idle executors on Ready nodes with the session's exact
	// resreq, for servable sessions, each at most once.
	bound := map[string]bool{}
	grants := map[string]int64{}
	for _, b := range plan.Bind {
		e, ok := m.execs[b.ExecutorID]
		switch {
		case !ok || m.idCount[b.ExecutorID] != 1:
			t.Errorf("bind of executor %q, which does not occur exactly once", b.ExecutorID)
		case e.State != ExecutorIdle:
			t.Errorf("bind of executor %q in state %v", b.ExecutorID, e.State)
		case !m.nodes[e.Node].Ready:
			t.Errorf("bind of executor %q on node %q, which is not Ready or unknown", b.ExecutorID, e.Node)
		case bound[b.ExecutorID]:
			t.Errorf("executor %q bound twice", b.ExecutorID)
		}
		si, ok := m.byID[b.SessionID]
		if !ok {
			t.Fatalf("bind to unknown session %q", b.SessionID)
		}
		s := m.sessions[si]
		if !m.servable(s) {
			t.Errorf("bind to session %q, which is not servable", s.ID)
		}
		if e.ResReq.normalized() != s.ResReq {
			t.Errorf("executor %q with resreq %v bound to session %q with resreq %v", e.ID, e.ResReq, s.ID, s.ResReq)
		}
		bound[b.ExecutorID] = true
		grants[b.SessionID]++
		m.have[b.SessionID]++
	}

	// Releases: unique Idle executors, not bound, sorted; together with
	// the binds they cover every unique Idle executor.
	if !slices.IsSorted(plan.Release) {
		t.Errorf("releases not sorted: %q", plan.Release)
	}
	released := map[string]bool{}
	for _, id := range plan.Release {
		e, ok := m.execs[id]
		switch {
		case !ok || m.idCount[id] != 1:
			t.Errorf("release of executor %q, which does not occur exactly once", id)
		case e.State != ExecutorIdle:
			t.Errorf("release of executor %q in state %v", id, e.State)
		case bound[id]:
			t.Errorf("executor %q both bound and released", id)
		case released[id]:
			t.Errorf("executor %q released twice", id)
		}
		released[id] = true
	}
	for id, e := range m.execs {
		if e.State == ExecutorIdle && m.idCount[id] == 1 && !bound[id] && !released[id] {
			t.Errorf("idle executor %q neither bound nor released", id)
		}
	}

	// Creates: Ready nodes, servable sessions, capacity kept.
	gpuCreated := map[string]bool{}
	for _, c := range plan.Create {
		si, ok := m.byID[c.SessionID]
		if !ok {
			t.Fatalf("create for unknown session %q", c.SessionID)
		}
		s := m.sessions[si]
		if !m.servable(s) {
			t.Errorf("create for session %q, which is not servable", s.ID)
		}
		if c.ResReq != s.ResReq {
			t.Errorf("create for session %q with resreq %v, want %v", s.ID, c.ResReq, s.ResReq)
		}
		if !m.fitsNow(c.Node, c.ResReq) {
			t.Errorf("create for session %q on node %q, which is not Ready or has no room for %v (used %+v of %v)",
				s.ID, c.Node, c.ResReq, m.used[c.Node], m.nodes[c.Node].Capacity)
		}
		m.occupy(c.Node, c.ResReq)
		gpuCreated[c.Node] = gpuCreated[c.Node] || c.ResReq.GPU > 0
		grants[c.SessionID]++
		m.have[c.SessionID]++
	}
	for name := range gpuCreated {
		n, u := m.nodes[name], m.used[name]
		if u.cpu > n.Capacity.CPU || u.mem > n.Capacity.Memory || (gpuCreated[name] && u.gpu > int64(n.Capacity.GPU)) {
			t.Errorf("node %q over capacity after the plan: used %+v of %v", name, u, n.Capacity)
		}
	}

	if n := len(plan.Bind) + len(plan.Create); n > MaxGrants {
		t.Errorf("plan grants %d executors, more than MaxGrants (%d)", n, MaxGrants)
	}

	// Per session: growth stays within want (hence within max); strict
	// tiers; work conservation; water-filling; notes.
	needy := func(s Session) bool { // a servable session left with pending tasks uncovered
		_, want := m.limits(s)
		return m.servable(s) && s.Pending > 0 && m.have[s.ID] < want
	}
	blocked := func(s Session) bool {
		return slices.ContainsFunc(m.sessions, func(o Session) bool { return o.Priority > s.Priority && needy(o) })
	}
	var wantNotes []Note
	for _, s := range m.sessions {
		minEff, want := m.limits(s)
		if grants[s.ID] > 0 && m.have[s.ID] > want {
			t.Errorf("session %q has %d executors after the plan, more than its want %d", s.ID, m.have[s.ID], want)
		}
		if grants[s.ID] > 0 && m.have[s.ID] > minEff && blocked(s) {
			t.Errorf("session %q (priority %d) grew beyond min_instances while a higher tier is short", s.ID, s.Priority)
		}
		target := want
		if blocked(s) {
			target = minEff
		}
		// A plan that reached MaxGrants stops early, by design.
		stuck := m.servable(s) && m.have[s.ID] < target && len(plan.Bind)+len(plan.Create) < MaxGrants
		if stuck {
			for id, e := range m.execs {
				if e.State == ExecutorIdle && m.idCount[id] == 1 && !bound[id] && m.nodes[e.Node].Ready &&
					e.ResReq.normalized() == s.ResReq {
					t.Errorf("session %q is short (%d < %d) but idle executor %q fits it", s.ID, m.have[s.ID], target, id)
				}
			}
			for name := range m.nodes {
				if m.fitsNow(name, s.ResReq) {
					t.Errorf("session %q is short (%d < %d) but node %q has room", s.ID, m.have[s.ID], target, name)
				}
			}
			for _, o := range m.sessions {
				if o.Priority == s.Priority && o.ResReq == s.ResReq && grants[o.ID] > 0 && m.have[o.ID] > m.have[s.ID]+1 {
					t.Errorf("unfair: session %q is short at %d while %q of its tier grew to %d",
						s.ID, m.have[s.ID], o.ID, m.have[o.ID])
				}
			}
		}
		if !m.servable(s) && s.Schedulable && want > haveBefore[s.ID] {
			switch {
			case s.Shim != ShimHost:
				wantNotes = append(wantNotes, Note{SessionID: s.ID, Reason: NoteShimUnsupported})
			case len(m.nodes) > 0:
				wantNotes = append(wantNotes, Note{SessionID: s.ID, Reason: NoteNoNodeFits})
			}
		}
	}
	if diff := cmp.Diff(wantNotes, plan.Notes, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Note{}, "Message")); diff != "" {
		t.Errorf("notes mismatch (-want +got):\n%s", diff)
	}
	for _, n := range plan.Notes {
		if n.Message == "" {
			t.Errorf("note for session %q has no message", n.SessionID)
		}
	}

	// Determinism: again, and with every input reversed.
	if diff := cmp.Diff(plan, Schedule(snap)); diff != "" {
		t.Errorf("second call differs (-first +second):\n%s", diff)
	}
	rev := cloneSnapshot(snap)
	slices.Reverse(rev.Nodes)
	slices.Reverse(rev.Sessions)
	slices.Reverse(rev.Executors)
	if diff := cmp.Diff(plan, Schedule(rev)); diff != "" {
		t.Errorf("plan depends on the input order (-given +reversed):\n%s", diff)
	}
}

func maps(m map[string]int64) map[string]int64 {
	c := make(map[string]int64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
