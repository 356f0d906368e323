package scheduler

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// MaxGrants bounds the executors one plan binds and creates together, so
// that no input — a session with a zero resreq and millions of pending tasks,
// say — makes a plan (or the work of carrying it out) unbounded. Grants stop
// where the bound is reached, in the usual order; the next call continues.
const MaxGrants = 4096

// Schedule decides, for one snapshot, which Idle executors to bind, which
// executors to create and which Idle executors to release. It is a pure,
// deterministic function: the same snapshot (in any order) gives the same
// plan. It never unbinds or preempts anything. The package documentation
// describes the algorithm.
func Schedule(snap Snapshot) Plan {
	st := newState(snap)
	notes := st.notes()
	st.grantTiers()
	bind, create := st.plan()
	return Plan{Bind: bind, Create: create, Release: st.releases(), Notes: notes}
}

// usage is what the executors on a node occupy. CPU and memory saturate at
// the maximum instead of wrapping; GPU is summed as int64, which cannot
// overflow for any slice that fits in memory.
type usage struct {
	cpu, mem uint64
	gpu      int64
}

type nodeState struct {
	node  Node // Capacity normalized
	used  usage
	count int64 // executors that occupy the node
}

// room returns how many more executors needing r fit on the node: the
// free amount of the scarcest requested resource in units of r (CPU and
// memory always count, so a node already over either limit takes nothing;
// GPU counts only when requested), capped by MaxExecutors. A request of zero
// resources fits without limit (math.MaxUint64) unless MaxExecutors is set.
func (n *nodeState) room(r Resources) uint64 {
	room := uint64(math.MaxUint64)
	c := n.node.Capacity
	if n.used.cpu > c.CPU || n.used.mem > c.Memory {
		return 0
	}
	if r.CPU > 0 {
		room = min(room, (c.CPU-n.used.cpu)/r.CPU)
	}
	if r.Memory > 0 {
		room = min(room, (c.Memory-n.used.mem)/r.Memory)
	}
	if r.GPU > 0 {
		free := int64(c.GPU) - n.used.gpu
		if free < int64(r.GPU) {
			return 0
		}
		room = min(room, uint64(free/int64(r.GPU)))
	}
	if n.node.MaxExecutors > 0 {
		left := int64(n.node.MaxExecutors) - n.count
		if left <= 0 {
			return 0
		}
		room = min(room, uint64(left))
	}
	return room
}

// holds reports whether r fits on an empty node of this capacity, by the
// same rule as room.
func (n *nodeState) holds(r Resources) bool {
	c := n.node.Capacity
	return r.CPU <= c.CPU && r.Memory <= c.Memory && (r.GPU <= 0 || r.GPU <= c.GPU)
}

func (n *nodeState) add(r Resources) {
	n.used.cpu = satAdd(n.used.cpu, r.CPU)
	n.used.mem = satAdd(n.used.mem, r.Memory)
	n.used.gpu += int64(max(r.GPU, 0))
	n.count++
}

type sessionState struct {
	s      *Session  // in the caller's snapshot: read only
	resreq Resources // s.ResReq normalized
	have   int64     // executors that count toward the session
	minEff int64     // MinInstances capped by the max values
	want   int64     // clamp(pending+running, minEff, max)
	// servable is false for sessions that can never get an executor: not
	// Schedulable, a shim other than Host, or a resreq no node holds.
	servable bool
}

// pendingUncovered reports whether the session still has pending tasks it
// lacks executors for, which blocks the growth of lower tiers.
func (ss *sessionState) pendingUncovered() bool {
	return ss.servable && ss.s.Pending > 0 && ss.have < ss.want
}

type idleExec struct {
	e     *Executor
	bound bool // bound by this plan
}

type state struct {
	nodes    []nodeState    // sorted by name, unique
	nodeIdx  map[string]int // only with more than smallNodes nodes
	sessions []sessionState // in schedule order, unique IDs
	idle     []idleExec     // Idle executors with a unique ID, sorted by ID
	// pools maps a resreq to the indices in idle of the bindable
	// executors with exactly that resreq, in ID order; pools[r][0] is the
	// next one to bind.
	pools map[Resources][]int
	// grants records what was handed out, in order.
	grants []grantRec
}

// grantRec is one executor handed to a session: the Idle executor bound
// (an index in state.idle) or the node a new one goes to (an index in
// state.nodes); the other is -1.
type grantRec struct {
	session, idle, node int32
}

func newState(snap Snapshot) *state {
	st := &state{}
	st.initNodes(snap.Nodes)
	st.initSessions(snap.Sessions)
	st.initExecutors(snap.Executors)
	return st
}

func (st *state) initNodes(in []Node) {
	nodes := slices.Clone(in)
	for i := range nodes {
		nodes[i].Capacity = nodes[i].Capacity.normalized()
	}
	slices.SortFunc(nodes, cmpNode)
	nodes = slices.CompactFunc(nodes, func(a, b Node) bool { return a.Name == b.Name })
	st.nodes = make([]nodeState, len(nodes))
	for i, n := range nodes {
		st.nodes[i].node = n
	}
	if len(nodes) > smallNodes {
		st.nodeIdx = make(map[string]int, len(nodes))
		for i, n := range nodes {
			st.nodeIdx[n.Name] = i
		}
	}
}

// smallNodes is the node count up to which executors find their node by a
// linear search instead of a map: cheaper than hashing the name for the
// usual one or few nodes.
const smallNodes = 8

// node returns the index of the node with the given name.
func (st *state) node(name string) (int, bool) {
	if st.nodeIdx == nil {
		for i := range st.nodes {
			if st.nodes[i].node.Name == name {
				return i, true
			}
		}
		return 0, false
	}
	i, ok := st.nodeIdx[name]
	return i, ok
}

func (st *state) initSessions(in []Session) {
	order := make([]*Session, len(in))
	for i := range in {
		order[i] = &in[i]
	}
	slices.SortFunc(order, cmpSession)
	order = slices.CompactFunc(order, func(a, b *Session) bool { return a.ID == b.ID })
	st.sessions = make([]sessionState, len(order))
	for i, s := range order {
		maxEff := int64(math.MaxInt64)
		if s.MaxInstances != nil {
			maxEff = min(maxEff, int64(*s.MaxInstances))
		}
		if s.AppMaxInstances != nil {
			maxEff = min(maxEff, int64(*s.AppMaxInstances))
		}
		minEff := min(int64(s.MinInstances), maxEff)
		demand := satAddInt(int64(max(s.Pending, 0)), int64(max(s.Running, 0)))
		r := s.ResReq.normalized()
		st.sessions[i] = sessionState{
			s:      s,
			resreq: r,
			minEff: minEff,
			want:   min(max(demand, minEff), maxEff),
			servable: s.Schedulable && s.Shim == ShimHost &&
				slices.ContainsFunc(st.nodes, func(n nodeState) bool { return n.holds(r) }),
		}
	}
}

func (st *state) initExecutors(execs []Executor) {
	sessionIdx := make(map[string]int, len(st.sessions))
	for i := range st.sessions {
		sessionIdx[st.sessions[i].s.ID] = i
	}
	for i := range execs {
		e := &execs[i]
		if e.State.occupies() {
			if ni, ok := st.node(e.Node); ok {
				st.nodes[ni].add(e.ResReq)
			}
		}
		if e.State.counts() && e.SessionID != "" {
			if si, ok := sessionIdx[e.SessionID]; ok {
				st.sessions[si].have++
			}
		}
		if e.State == ExecutorIdle {
			st.idle = append(st.idle, idleExec{e: e})
		}
	}
	if len(st.idle) == 0 {
		return
	}
	// Drop Idle executors whose ID occurs more than once among all
	// executors; they are neither bound nor released.
	slices.SortFunc(st.idle, func(a, b idleExec) int { return cmpExecutor(a.e, b.e) })
	ids := make(map[string]int, len(st.idle))
	for _, ie := range st.idle {
		ids[ie.e.ID]++
	}
	for i := range execs {
		if e := &execs[i]; e.State != ExecutorIdle {
			if _, ok := ids[e.ID]; ok {
				ids[e.ID]++
			}
		}
	}
	st.idle = slices.DeleteFunc(st.idle, func(ie idleExec) bool { return ids[ie.e.ID] > 1 })
	st.pools = make(map[Resources][]int)
	for i := range st.idle {
		e := st.idle[i].e
		if ni, ok := st.node(e.Node); ok && st.nodes[ni].node.Ready {
			r := e.ResReq.normalized()
			st.pools[r] = append(st.pools[r], i)
		}
	}
}

// notes explains every session that needs executors but can never get one.
// Sessions that are not Schedulable get no note: the session manager
// records the retry-limit event itself when it sets Schedulable to false.
func (st *state) notes() []Note {
	var notes []Note
	for i := range st.sessions {
		ss := &st.sessions[i]
		s := ss.s
		if ss.servable || !s.Schedulable || ss.want <= ss.have {
			continue
		}
		switch {
		case s.Shim != ShimHost:
			notes = append(notes, Note{
				SessionID: s.ID,
				Reason:    NoteShimUnsupported,
				Message: fmt.Sprintf("no node supports the %s shim, so the session's tasks stay pending; "+
					"close the session and run the application with shim Host", s.Shim),
			})
		case len(st.nodes) > 0: // with no node at all there is nothing to compare against
			notes = append(notes, Note{
				SessionID: s.ID,
				Reason:    NoteNoNodeFits,
				Message: fmt.Sprintf("resource requirement %s exceeds the capacity of every node (%s), "+
					"so the session's tasks stay pending; create the session with a smaller resreq",
					ss.resreq, st.capacities()),
			})
		}
	}
	return notes
}

// capacities describes the node capacities for a note, at most three nodes.
func (st *state) capacities() string {
	const shown = 3
	var b strings.Builder
	for i, n := range st.nodes {
		if i == shown {
			fmt.Fprintf(&b, " and %d more", len(st.nodes)-shown)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", n.node.Name, n.node.Capacity)
	}
	return b.String()
}

// grantTiers walks the priority tiers from the highest down and hands out
// executors within each tier by water-filling (see the package
// documentation). Once a tier is left with a servable session whose pending
// tasks are not covered, every lower tier only grows to its min_instances.
func (st *state) grantTiers() {
	blocked := false
	var h tierHeap
	for lo := 0; lo < len(st.sessions); {
		prio := st.sessions[lo].s.Priority
		hi := lo + 1
		for hi < len(st.sessions) && st.sessions[hi].s.Priority == prio {
			hi++
		}
		h.reset(st.sessions)
		for i := lo; i < hi; i++ {
			if ss := &st.sessions[i]; ss.servable && ss.have < st.target(ss, blocked) {
				h.push(int32(i))
			}
		}
		for len(h.items) > 0 {
			if len(st.grants) >= MaxGrants {
				return
			}
			i := h.items[0]
			ss := &st.sessions[i]
			if !st.grant(i) {
				h.pop() // nothing fits it now, and nothing frees up within a call
				continue
			}
			if ss.have >= st.target(ss, blocked) {
				h.pop()
			} else {
				h.fix0()
			}
		}
		if !blocked {
			blocked = slices.ContainsFunc(st.sessions[lo:hi], func(ss sessionState) bool { return ss.pendingUncovered() })
		}
		lo = hi
	}
}

// target is the number of executors the session should have now.
func (st *state) target(ss *sessionState, blocked bool) int64 {
	if blocked {
		return ss.minEff
	}
	return ss.want
}

// grant gives the session one more executor: an Idle one with the same
// resreq on a Ready node if there is one, else a new one on the Ready node
// with the most room for it. It reports false when neither is possible.
func (st *state) grant(si int32) bool {
	ss := &st.sessions[si]
	r := ss.resreq
	if pool := st.pools[r]; len(pool) > 0 {
		ie := &st.idle[pool[0]]
		st.pools[r] = pool[1:]
		ie.bound = true
		ss.have++
		st.grants = append(st.grants, grantRec{session: si, idle: int32(pool[0]), node: -1})
		return true
	}
	best, bestRoom := -1, uint64(0)
	for i := range st.nodes {
		n := &st.nodes[i]
		if !n.node.Ready {
			continue
		}
		room := n.room(r)
		if room == 0 {
			continue
		}
		// Most room first; among equals the node with fewer executors
		// (spreads zero-resource requests), then the name (sort order).
		if best < 0 || room > bestRoom || (room == bestRoom && n.count < st.nodes[best].count) {
			best, bestRoom = i, room
		}
	}
	if best < 0 {
		return false
	}
	n := &st.nodes[best]
	n.add(r)
	ss.have++
	st.grants = append(st.grants, grantRec{session: si, idle: -1, node: int32(best)})
	return true
}

// plan turns the grants into the plan's Bind and Create lists, in grant
// order.
func (st *state) plan() ([]Binding, []Placement) {
	binds := 0
	for _, g := range st.grants {
		if g.idle >= 0 {
			binds++
		}
	}
	var bind []Binding
	var create []Placement
	if binds > 0 {
		bind = make([]Binding, 0, binds)
	}
	if creates := len(st.grants) - binds; creates > 0 {
		create = make([]Placement, 0, creates)
	}
	for _, g := range st.grants {
		ss := &st.sessions[g.session]
		if g.idle >= 0 {
			bind = append(bind, Binding{ExecutorID: st.idle[g.idle].e.ID, SessionID: ss.s.ID})
		} else {
			create = append(create, Placement{SessionID: ss.s.ID, Node: st.nodes[g.node].node.Name, ResReq: ss.resreq})
		}
	}
	return bind, create
}

// releases lists every Idle executor this plan does not bind.
func (st *state) releases() []string {
	var ids []string
	for _, ie := range st.idle {
		if !ie.bound {
			ids = append(ids, ie.e.ID)
		}
	}
	return ids
}

// tierHeap is a binary min-heap of session indices ordered by (have, index):
// the session with the fewest executors first, ties in schedule order
// (creation time, then ID). It is typed to avoid container/heap's boxing.
type tierHeap struct {
	items    []int32
	sessions []sessionState
}

func (h *tierHeap) reset(sessions []sessionState) {
	h.items = h.items[:0]
	h.sessions = sessions
}

func (h *tierHeap) less(a, b int32) bool {
	ha, hb := h.sessions[a].have, h.sessions[b].have
	return ha < hb || (ha == hb && a < b)
}

func (h *tierHeap) push(i int32) {
	h.items = append(h.items, i)
	h.up(len(h.items) - 1)
}

func (h *tierHeap) pop() {
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	if last > 0 {
		h.down(0)
	}
}

// fix0 restores the order after the top item's key grew.
func (h *tierHeap) fix0() { h.down(0) }

func (h *tierHeap) up(j int) {
	for j > 0 {
		p := (j - 1) / 2
		if !h.less(h.items[j], h.items[p]) {
			return
		}
		h.items[j], h.items[p] = h.items[p], h.items[j]
		j = p
	}
}

func (h *tierHeap) down(j int) {
	n := len(h.items)
	for {
		c := 2*j + 1
		if c >= n {
			return
		}
		if c+1 < n && h.less(h.items[c+1], h.items[c]) {
			c++
		}
		if !h.less(h.items[c], h.items[j]) {
			return
		}
		h.items[j], h.items[c] = h.items[c], h.items[j]
		j = c
	}
}

// The comparators below are written as if-chains rather than cmp.Or,
// which would evaluate every comparison before picking the first non-zero
// one; sorting is most of the cost of a call.

// cmpNode orders nodes by name, then by every other field so that the
// order (and the copy kept for a duplicate name) does not depend on the
// input order.
func cmpNode(a, b Node) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := cmpBool(a.Ready, b.Ready); c != 0 {
		return c
	}
	if c := cmpResources(a.Capacity, b.Capacity); c != 0 {
		return c
	}
	return cmp.Compare(a.MaxExecutors, b.MaxExecutors)
}

// cmpSession is the schedule order: priority descending, creation time
// ascending, ID ascending, then every other field (for duplicate IDs).
func cmpSession(a, b *Session) int {
	if a.Priority != b.Priority {
		return cmp.Compare(b.Priority, a.Priority)
	}
	if a.Created != b.Created {
		return cmp.Compare(a.Created, b.Created)
	}
	if c := strings.Compare(a.ID, b.ID); c != 0 {
		return c
	}
	return cmp.Or( // duplicate IDs only
		cmp.Compare(a.Pending, b.Pending),
		cmp.Compare(a.Running, b.Running),
		cmp.Compare(a.MinInstances, b.MinInstances),
		cmpOptional(a.MaxInstances, b.MaxInstances),
		cmpOptional(a.AppMaxInstances, b.AppMaxInstances),
		cmpResources(a.ResReq, b.ResReq),
		cmp.Compare(a.Shim, b.Shim),
		cmpBool(a.Schedulable, b.Schedulable),
	)
}

func cmpExecutor(a, b *Executor) int {
	if c := strings.Compare(a.ID, b.ID); c != 0 {
		return c
	}
	return cmp.Or( // duplicate IDs only
		strings.Compare(a.Node, b.Node),
		strings.Compare(a.SessionID, b.SessionID),
		cmp.Compare(a.State, b.State),
		cmpResources(a.ResReq, b.ResReq),
	)
}

func cmpResources(a, b Resources) int {
	if a.CPU != b.CPU {
		return cmp.Compare(a.CPU, b.CPU)
	}
	if a.Memory != b.Memory {
		return cmp.Compare(a.Memory, b.Memory)
	}
	return cmp.Compare(a.GPU, b.GPU)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// cmpOptional orders nil (unlimited) after every value.
func cmpOptional(a, b *uint32) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return cmp.Compare(*a, *b)
}

func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// satAddInt adds two non-negative int64 values, saturating at the maximum.
func satAddInt(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
