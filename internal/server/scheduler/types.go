package scheduler

import (
	"fmt"
	"strconv"
)

// Resources is an amount of node resources: what one executor of a session
// needs (the session's resreq), or what a node offers. It mirrors the wire
// message ResourceRequirement. A negative GPU count is treated as 0
// everywhere.
type Resources struct {
	CPU    uint64 // cores
	Memory uint64 // bytes
	GPU    int32  // devices
}

// memUnits are the binary memory units of the canonical resreq form, largest
// first.
var memUnits = []struct {
	suffix string
	factor uint64
}{{"p", 1 << 50}, {"t", 1 << 40}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}}

// String formats r in the canonical resreq form, e.g. "cpu=1,mem=1g,gpu=0",
// the same form flags and configs accept (spec §3.3).
func (r Resources) String() string {
	mem := strconv.FormatUint(r.Memory, 10)
	for _, u := range memUnits {
		if r.Memory != 0 && r.Memory%u.factor == 0 {
			mem = strconv.FormatUint(r.Memory/u.factor, 10) + u.suffix
			break
		}
	}
	return fmt.Sprintf("cpu=%d,mem=%s,gpu=%d", r.CPU, mem, r.GPU)
}

// normalized returns r with a negative GPU count replaced by 0.
func (r Resources) normalized() Resources {
	r.GPU = max(r.GPU, 0)
	return r
}

// Node is one executor manager (a machine) as the scheduler sees it.
type Node struct {
	// Name identifies the node; executors refer to it by this name. Names
	// are unique; for a duplicate the copy that sorts first (by every field)
	// is used.
	Name string
	// Capacity is what the node offers to executors in total (its
	// allocatable resources, not what is free).
	Capacity Resources
	// Ready is false while the node is not serving (e.g. its executor
	// manager is disconnected). Only Ready nodes get new executors, and only
	// Idle executors on Ready nodes are bound.
	Ready bool
	// MaxExecutors caps the number of executors that occupy the node
	// (every state but Released); 0 or negative means no cap. Set it when
	// sessions may request zero resources: such a session otherwise gets one
	// executor (one process) per task.
	MaxExecutors int
}

// Shim is the kind of instance an application needs. The values equal the
// wire enum flame.v1.Shim, so a conversion is a cast.
type Shim int32

const (
	// ShimHost runs the application as a host process; every node supports it.
	ShimHost Shim = 0
	// ShimWasm runs the application as a WebAssembly module; no node of
	// this project supports it (spec §18, decision 10).
	ShimWasm Shim = 1
)

// String returns the shim's wire name ("Host", "Wasm"), or Shim(<n>).
func (s Shim) String() string {
	switch s {
	case ShimHost:
		return "Host"
	case ShimWasm:
		return "Wasm"
	}
	return "Shim(" + strconv.Itoa(int(s)) + ")"
}

// Session is one Open session with what the scheduler needs to know about
// it. Closed sessions are not part of a snapshot.
type Session struct {
	// ID identifies the session; executors refer to it by this ID. IDs are
	// unique; for a duplicate the copy that sorts first is used.
	ID string
	// Priority orders sessions: higher first, in strict tiers (see the
	// package documentation).
	Priority uint32
	// Created is the creation time in milliseconds; older sessions come
	// first among equals (then the lower ID).
	Created int64
	// Pending and Running are the session's task counts in those states.
	// Negative values count as 0.
	Pending, Running int
	// MinInstances is the number of executors the session keeps even
	// without tasks. It is capped by MaxInstances and AppMaxInstances.
	MinInstances uint32
	// MaxInstances is the session's max_instances; nil means unlimited.
	MaxInstances *uint32
	// AppMaxInstances is the application's max_instances; nil means
	// unlimited. The session gets at most the smaller of the two (spec
	// §18, decision 12).
	AppMaxInstances *uint32
	// ResReq is what one executor of the session needs.
	ResReq Resources
	// Shim is the application's shim. Only ShimHost is scheduled.
	Shim Shim
	// Schedulable is false once the session reached the bind retry limit
	// (spec §6.6); such a session gets nothing and blocks nobody.
	Schedulable bool
}

// ExecutorState is the state of an executor as the session manager records
// it. The values equal the wire enum flame.v1.ExecutorState (ExecutorCreating
// is the wire's Void), so a conversion is a cast. The scheduler only reads
// states; the session manager owns the executor state machine (spec §6.2).
type ExecutorState int32

const (
	// ExecutorUnknown is the zero value. An executor in this (or any
	// undefined) state occupies node capacity and is otherwise ignored.
	ExecutorUnknown ExecutorState = 0
	// ExecutorCreating (wire: Void) was created by a plan and has not
	// registered yet. It counts toward its SessionID, if set.
	ExecutorCreating ExecutorState = 1
	// ExecutorIdle has registered and has no session. It is bound by a plan
	// or released by it; its SessionID is ignored.
	ExecutorIdle ExecutorState = 2
	// ExecutorBinding is being bound to SessionID (its instance starts).
	ExecutorBinding ExecutorState = 3
	// ExecutorBound serves SessionID.
	ExecutorBound ExecutorState = 4
	// ExecutorUnbinding is leaving its session. It no longer counts toward
	// the session but still occupies capacity until it is Idle again.
	ExecutorUnbinding ExecutorState = 5
	// ExecutorReleasing is going away; it occupies capacity until Released.
	ExecutorReleasing ExecutorState = 6
	// ExecutorReleased is gone; it occupies nothing.
	ExecutorReleased ExecutorState = 7
)

var executorStateNames = [...]string{
	ExecutorUnknown:   "Unknown",
	ExecutorCreating:  "Creating",
	ExecutorIdle:      "Idle",
	ExecutorBinding:   "Binding",
	ExecutorBound:     "Bound",
	ExecutorUnbinding: "Unbinding",
	ExecutorReleasing: "Releasing",
	ExecutorReleased:  "Released",
}

// String returns the state's name, or ExecutorState(<n>) for an undefined
// value.
func (s ExecutorState) String() string {
	if s >= 0 && int(s) < len(executorStateNames) {
		return executorStateNames[s]
	}
	return "ExecutorState(" + strconv.Itoa(int(s)) + ")"
}

// occupies reports whether an executor in state s holds node capacity:
// every state except Released does, undefined ones included (the safe
// assumption).
func (s ExecutorState) occupies() bool { return s != ExecutorReleased }

// counts reports whether an executor in state s counts toward the
// executors its session has.
func (s ExecutorState) counts() bool {
	return s == ExecutorCreating || s == ExecutorBinding || s == ExecutorBound
}

// Executor is one executor (one instance slot) on a node.
type Executor struct {
	// ID identifies the executor; plans refer to it by this ID. An ID that
	// occurs more than once is never bound or released by a plan (the
	// caller could not tell which copy is meant), but every copy occupies
	// capacity and counts toward its session.
	ID string
	// Node is the name of the node the executor runs on. An executor on a
	// node missing from the snapshot occupies nothing the scheduler knows
	// of and is never bound.
	Node string
	// SessionID is the session the executor serves or is being created,
	// bound or unbound for; "" for none. Ignored for Idle executors.
	SessionID string
	// State is the executor's state.
	State ExecutorState
	// ResReq is what the executor occupies on its node; an Idle executor is
	// bound only to a session with exactly this ResReq.
	ResReq Resources
}

// Snapshot is a consistent view of the cluster taken by the caller under its
// lock. Schedule does not modify it and keeps no reference to it.
type Snapshot struct {
	Nodes     []Node
	Sessions  []Session // Open sessions only
	Executors []Executor
}

// Binding tells the caller to bind an Idle executor to a session (Idle →
// Binding with SessionID set).
type Binding struct {
	ExecutorID string
	SessionID  string
}

// Placement tells the caller to create a new executor for a session on a
// node, in state ExecutorCreating with SessionID and ResReq set, so that the
// next Schedule counts it for the session.
type Placement struct {
	SessionID string
	Node      string
	ResReq    Resources // the session's resreq (negative GPU as 0), for convenience
}

// NoteReason says why a session cannot be served. The caller maps it to a
// session event and de-duplicates: Schedule repeats a note on every call for
// as long as the reason holds.
type NoteReason int

const (
	// NoteShimUnsupported: no node supports the session's shim (Wasm).
	NoteShimUnsupported NoteReason = iota + 1
	// NoteNoNodeFits: the session's resreq exceeds the capacity of every
	// node, so no executor can ever be created for it.
	NoteNoNodeFits
)

// String returns the reason's name.
func (r NoteReason) String() string {
	switch r {
	case NoteShimUnsupported:
		return "ShimUnsupported"
	case NoteNoNodeFits:
		return "NoNodeFits"
	}
	return "NoteReason(" + strconv.Itoa(int(r)) + ")"
}

// Note explains why a session that needs executors gets none.
type Note struct {
	SessionID string
	Reason    NoteReason
	Message   string // for users, e.g. as a session event message
}

// Plan is what the caller should do, in order: bind, create, release. It is
// computed against the snapshot and valid only for it: the caller applies it
// (or drops it) before taking the next snapshot.
type Plan struct {
	// Bind lists Idle executors to bind, in grant order.
	Bind []Binding
	// Create lists executors to create, in grant order.
	Create []Placement
	// Release lists Idle executors no session needs, sorted by ID
	// (upstream releases every executor still Idle after binding; there is
	// no warm pool).
	Release []string
	// Notes explain unserved sessions, in session order.
	Notes []Note
}
