// Package scheduler decides which executors the embedded Flame cluster
// creates, binds and releases. It is the Go counterpart of upstream's
// Dispatch → Allocate → Shuffle cycle with the priority plugin (spec §7),
// reduced to what a single- or few-node cluster needs and settled by spec
// §18 (decisions 7–12): strict priority tiers, fair sharing inside a tier,
// no DRF, no preemption, Wasm never scheduled, application max_instances
// enforced.
//
// # Use
//
// The session manager takes a Snapshot of its state under its lock (Open
// sessions with task counts, nodes, executors), calls Schedule, and carries
// the Plan out before it takes the next snapshot: Bind moves an Idle
// executor to Binding for the session, Create adds an executor in state
// Creating with SessionID and ResReq set (so the next call counts it),
// Release moves an Idle executor to Releasing, and Notes may become session
// events (the caller de-duplicates; a note repeats on every call while its
// reason holds). Schedule is pure and deterministic — the same snapshot, in
// any order, gives the same plan — so it is cheap to call on every tick and
// on every event (new task, executor registered, unbound, …).
//
//	plan := scheduler.Schedule(snap)
//	for _, b := range plan.Bind { ... }    // Idle → Binding(b.SessionID)
//	for _, c := range plan.Create { ... }  // new executor on c.Node, Creating(c.SessionID)
//	for _, id := range plan.Release { ... } // Idle → Releasing
//	for _, n := range plan.Notes { ... }   // session event, once per (session, reason)
//
// When a created executor registers, the caller may either bind it directly
// to the session it was created for (Creating → Binding) or leave it Idle
// with no session: the next call binds it to the session that needs it most
// (or releases it when none does).
//
// # Executor states
//
//	state      occupies capacity  counts for its session  bindable  released when unused
//	Creating   yes                yes (if SessionID set)   no        no
//	Idle       yes                no (SessionID ignored)   yes       yes
//	Binding    yes                yes                      no        no
//	Bound      yes                yes                      no        no
//	Unbinding  yes                no                       no        no
//	Releasing  yes                no                       no        no
//	Released   no                 no                       no        no
//	other      yes                no                       no        no
//
// An Unbinding executor is leaving its session (delay_release expired, the
// session closed or its bind failed), so it does not count for the session:
// if the session has pending tasks again it gets another executor — a new
// one when there is room, else this one once it is Idle (binding reuses Idle
// executors before creating). It occupies its node until it is released.
// Undefined states are treated as occupying capacity, the safe assumption.
//
// # Algorithm
//
// 1. Capacity. A node's used amount is the sum of ResReq of its executors in
// every state but Released. A new executor may be placed on a node only if
// the node is Ready and, after adding it, used ≤ Capacity for CPU and memory,
// and for GPU when the session requests GPUs (GPU > 0); and the node's
// executor count stays within MaxExecutors when that is set. Binding an Idle
// executor needs no capacity: it already occupies its node.
//
// 2. Demand. For each session, with unset max values unlimited:
//
//	max  = min(MaxInstances, AppMaxInstances)
//	min  = min(MinInstances, max)
//	want = clamp(Pending + Running, min, max)
//	have = its executors in Creating, Binding or Bound
//
// A session is servable when it is Schedulable (below the bind retry limit),
// its shim is Host, and its ResReq fits the Capacity of at least one node
// (Ready or not — a node that is down for now may come back). Sessions that
// are not servable get nothing and block nobody. When such a session wants
// more executors than it has, it gets a Note — NoteShimUnsupported for a
// Wasm (or unknown) shim, NoteNoNodeFits when its ResReq exceeds every
// node's capacity — except that a session that is not Schedulable gets no
// note (the session manager already records the retry-limit event when it
// sets Schedulable to false), and NoNodeFits is not reported when the
// snapshot has no nodes at all.
//
// 3. Tiers. Sessions are ordered by priority descending, then creation time
// ascending, then ID. Sessions of equal priority form a tier; tiers are
// served from the highest down. A tier is served up to want, unless it is
// blocked, in which case it is served only up to min. The first tier is
// never blocked; every tier below a tier that ends with a servable session
// whose pending tasks are not covered (Pending > 0 and have < want) is
// blocked (strict tiers, spec §7.4). Honouring min_instances of blocked
// tiers keeps §7.8's rule that only sessions with pending tasks are held
// back, but only from what the higher tiers left: they are served first in
// the same call, so with one resreq cluster-wide a blocked tier gets
// nothing while a higher one is short. Caveat: when a higher tier is short
// only because its larger ResReq does not fit the leftover space
// (fragmentation), a lower tier's min_instances executors take part of that
// space and keep it while their session is open (after delay_release they
// unbind and are bound again for min_instances), which can hold the higher
// tier back until that session closes. Upstream blocks min_instances too
// (§7.4); we follow §7.8 and honour them.
//
// 4. Fair share within a tier (water-filling). Executors are handed out one
// at a time to the session of the tier with the fewest executors (have),
// ties broken by creation time then ID, until every session reached its
// target or cannot get more. So two equal sessions with 100 pending tasks
// each on a node with room for two executors get one each, and a newcomer
// catches up with a session that already has executors before that one grows
// further. Fairness counts executors, not resources (no DRF, §18). Each
// grant first binds the Idle executor with exactly the session's ResReq (as
// upstream's is_available) on a Ready node, lowest ID first; otherwise it
// creates an executor on the Ready node with the most room for the session —
// how many more of its executors fit, which is the free amount of the
// session's scarcest (dominant) resource in units of its request — ties to
// the node with fewer executors, then by name. Spreading suits a few nodes
// (instance processes compete for cores less) at the price of leaving fewer
// large holes. A session for which neither works leaves the tier: capacity
// only shrinks during a call. One plan grants at most MaxGrants executors
// (bind and create together); the next call goes on from there.
//
// 5. Release. Every Idle executor that was not bound is released, as
// upstream's Shuffle does: there is no warm pool, and each binding starts a
// fresh instance process anyway. Idle executors on nodes that are not Ready
// (or unknown) are never bound, so they are released too.
//
// Nothing is ever unbound or preempted: a session that has more executors
// than it wants keeps them until delay_release or session close frees them.
//
// # Bad input
//
// Schedule never panics. Negative task counts and GPU values count as 0;
// sums saturate instead of wrapping. For duplicate node names and session IDs
// the copy that sorts first (by every field) is used. An executor ID that
// occurs more than once is never bound or released, but every copy occupies
// capacity and counts for its session. Executors of sessions missing from the
// snapshot (closed, say) occupy capacity and count for nobody. A session whose
// ResReq is all zero is limited only by want and Node.MaxExecutors — set the
// latter, or reject such sessions, so that one session cannot start a process
// per task.
//
// # Cost
//
// O(E + S log S + I log I + G·(log S + N)) for E executors (I of them Idle),
// S sessions, N nodes and G ≤ MaxGrants executors granted, in a few dozen
// allocations; BenchmarkSchedule measures it against the cost of copying the
// snapshot.
package scheduler
