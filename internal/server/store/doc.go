// Package store persists the embedded session manager's state: applications,
// sessions (open and closed) and tasks with their inputs, outputs, states and
// events. Records are the generated flamev1 messages, stored as marshalled
// protobuf blobs next to the key columns the store needs.
//
// The session manager serves reads from its own memory. The store is written
// on every change, before the change is acknowledged, and read back once, by
// Load, at start-up.
//
// # Implementations
//
//   - SQLite (OpenSQLite): durable. modernc.org/sqlite (pure Go), WAL journal,
//     synchronous=FULL, one connection, exclusive file lock.
//   - Memory (NewMemory): NOT durable. Maps of cloned messages, for tests,
//     benchmarks and `--storage none`; everything is lost with the process.
//     It applies mutations inside Enqueue/Commit, so Wait never blocks.
//
// Both pass the same conformance suite (testAllStores in store_test.go), and
// a randomized test checks that they load the same state after the same
// history.
//
// The SQLite layout (see migrations in schema.go) stores tasks in creation
// order, so one group commit writes a few pages at the end of the table
// whatever the number of sessions, and keeps task inputs in a table of their
// own that only CreateTask writes. The committer keeps a (session, task ID)
// → row map in memory (a few tens of bytes per task), rebuilt at open.
//
// # Usage
//
//	st, err := store.OpenSQLite(filepath.Join(dataDir, "flame.db"))
//	...
//	state, err := st.Load(ctx) // once, at start-up
//	...
//	// Change memory and fix the persisted order under the manager's lock,
//	// wait for the disk without it:
//	m.mu.Lock()
//	task.Status.State = flamev1.TaskState_Succeed
//	p := st.Enqueue(store.UpdateTask(task))
//	m.mu.Unlock()
//	if err := p.Wait(ctx); err != nil { ... } // only now acknowledge the RPC
//
// # Durability contract
//
// Commit (or Enqueue followed by Wait) returning nil means every mutation of
// that call is durable: with the SQLite store the transaction holding it has
// been committed with its WAL fsynced, so it survives a crash of the process
// or of the machine (as far as the disk honours fsync). Commit returns only
// after that point, which is why callers must not acknowledge a change to
// their own clients before it returns.
//
// Atomicity: the mutations of one Commit call are applied all together or not
// at all, in the order given.
//
// Group commit: the SQLite store does not run one transaction per call. Calls
// are appended to a queue; one committer goroutine takes everything queued
// (up to a batch limit, see WithMaxBatch), applies it in one transaction with
// prepared statements and one fsync, then wakes every caller of that batch
// with the same result. Concurrent callers thus share the cost of the fsync:
// the more callers, the bigger the batches.
//
// Errors: a non-nil error means
//
//   - ErrInvalidMutation (wrapped), ErrClosed, or the context's error: nothing
//     of that call was applied, nor will be. A context ends a call only while
//     it is still queued; once its transaction has started the call waits for
//     it (at most one transaction), so a context error is never ambiguous.
//   - any other error: the transaction of the batch failed and was rolled back,
//     for every caller in that batch alike. If the failure was at COMMIT (an
//     I/O error) the outcome cannot be known; treat such errors as fatal for
//     the store rather than retrying blindly.
//
// Ordering: calls are applied in the order in which they were enqueued. A
// call that starts after another call's Enqueue returned is applied after it;
// so a caller that enqueues while holding the lock that orders its in-memory
// changes gets the same order on disk. Concurrent callers that do not
// coordinate get some order, each call still atomic.
//
// Ownership: the store never keeps or modifies a caller's message. Enqueue
// (and Commit, which calls it) copies what it needs before returning; Load
// returns fresh messages that belong to the caller. Messages handed to the
// store must not be modified concurrently by another goroutine while Enqueue
// reads them.
//
// Consistency between records is the session manager's job: the store keys
// records and cascades deletes, but does not check references. A task whose
// session was never stored is kept, UpdateTask of an unknown task is a no-op,
// DeleteApplication removes the sessions whose Spec.Application names it.
//
// Restart: Load returns records exactly as last committed, including tasks
// that were Running; re-queuing or failing them is the session manager's
// decision.
package store
