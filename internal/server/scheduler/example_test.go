package scheduler_test

import (
	"fmt"

	"github.com/flmctl/flmctl/internal/server/scheduler"
)

// Two sessions of equal priority with 100 pending tasks each share the two
// free cores of a node (an Idle executor holds the third): each gets one
// executor. The Idle executor's resreq matches nobody's, so it is released,
// and the Wasm session gets a note.
func ExampleSchedule() {
	oneCore := scheduler.Resources{CPU: 1, Memory: 1 << 30}
	snap := scheduler.Snapshot{
		Nodes: []scheduler.Node{
			{Name: "local", Capacity: scheduler.Resources{CPU: 3, Memory: 8 << 30}, Ready: true},
		},
		Sessions: []scheduler.Session{
			{ID: "etl", Created: 2, Pending: 100, ResReq: oneCore, Schedulable: true},
			{ID: "train", Created: 1, Pending: 100, ResReq: oneCore, Schedulable: true},
			{ID: "wasm-app", Created: 3, Pending: 1, ResReq: oneCore, Shim: scheduler.ShimWasm, Schedulable: true},
		},
		Executors: []scheduler.Executor{
			{ID: "e1", Node: "local", State: scheduler.ExecutorIdle, ResReq: scheduler.Resources{CPU: 1, Memory: 2 << 30}},
		},
	}
	plan := scheduler.Schedule(snap)
	for _, c := range plan.Create {
		fmt.Printf("create %s on %s (%s)\n", c.SessionID, c.Node, c.ResReq)
	}
	for _, id := range plan.Release {
		fmt.Println("release", id)
	}
	for _, n := range plan.Notes {
		fmt.Printf("note %s %s\n", n.SessionID, n.Reason)
	}
	// Output:
	// create train on local (cpu=1,mem=1g,gpu=0)
	// create etl on local (cpu=1,mem=1g,gpu=0)
	// release e1
	// note wasm-app ShimUnsupported
}
