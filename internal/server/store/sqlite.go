package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"google.golang.org/protobuf/proto"

	// The pure-Go SQLite driver, registered as "sqlite"; its Error type
	// and lib's result codes classify errors.
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Batch limits of the group commit. One transaction takes queued Commit
// calls, in order, until adding the next would pass either limit (a single
// call larger than a limit gets a transaction to itself). Batches form by
// themselves: while one transaction commits, the callers that arrive queue up
// for the next, so with N concurrent committers a batch holds about N/2
// calls (BenchmarkCommit: 256 committers, about 130 mutations per batch).
// The mutation limit only bounds the latency of one transaction when many
// calls are enqueued at once; the byte limit keeps one transaction (and the
// WAL it writes) from growing without bound when inputs are large.
const (
	DefaultMaxBatchMutations = 4096
	DefaultMaxBatchBytes     = 64 << 20
)

// SQLiteOption configures OpenSQLite.
type SQLiteOption func(*sqliteConfig)

type sqliteConfig struct {
	maxBatchMutations int
	maxBatchBytes     int
	// linger is the commit delay under load (see run and delay).
	linger time.Duration
	// Test hooks, run by the committer: beforeTake before it looks at the
	// queue, afterTake once it has taken a non-empty batch.
	beforeTake, afterTake func()
}

// WithMaxBatch sets the group-commit limits: at most mutations mutations and
// bytes bytes of records per transaction. Values below 1 keep the defaults
// (DefaultMaxBatchMutations, DefaultMaxBatchBytes).
func WithMaxBatch(mutations, bytes int) SQLiteOption {
	return func(c *sqliteConfig) {
		if mutations > 0 {
			c.maxBatchMutations = mutations
		}
		if bytes > 0 {
			c.maxBatchBytes = bytes
		}
	}
}

// WithCommitDelay sets how long, at most, the committer lets a busy queue
// fill before the next transaction (0 turns it off; the default is
// DefaultCommitDelay). It applies only under load: when the last
// transaction carried commitDelayBusy mutations or more and the queue holds
// fewer than commitDelayEnough, so a lone caller never waits.
func WithCommitDelay(d time.Duration) SQLiteOption {
	return func(c *sqliteConfig) { c.linger = d }
}

// DefaultCommitDelay is the default of WithCommitDelay. Each commit costs an
// fsync and the WAL frames of the pages it touched. On two cores, waiting
// for more work between busy commits cut the CPU per task: 2 ms brought
// throughput from 78 to about 80 % of the in-memory store's, 6 ms to about
// 83 % (BenchmarkDurableShare in pkg/local, the two alternated five times:
// 34 against 83 mutations per commit). 10 ms did worse (72-78 %): the tasks
// whose end waits for its commit then take too much of the work in flight.
// A lone caller's Invoke is unchanged (BenchmarkInvokeLatency/sqlite).
const DefaultCommitDelay = 6 * time.Millisecond

const (
	// commitDelayBusy is how many mutations the last transaction must have
	// carried for the committer to wait for more.
	commitDelayBusy = 4
	// commitDelayEnough ends the wait early.
	commitDelayEnough = 512
)

// withHooks installs test hooks in the committer (either may be nil): tests
// use them to hold requests in the queue or in a taken batch.
func withHooks(beforeTake, afterTake func()) SQLiteOption {
	return func(c *sqliteConfig) { c.beforeTake, c.afterTake = beforeTake, afterTake }
}

// SQLite is the durable Store: an SQLite database in WAL mode with
// synchronous=FULL, written through one connection by one committer
// goroutine that groups concurrent Commit calls into one transaction.
type SQLite struct {
	db   *sql.DB
	path string
	cfg  sqliteConfig
	stmt [numStatements]*sql.Stmt // prepared on db, used by the committer
	// putTasks[i] and insertInputs[i] write rowChunks[i] rows.
	putTasks, insertInputs [len(rowChunks)]*sql.Stmt

	mu sync.Mutex // guards queue and closed
	// queue holds enqueued requests in commit order. Withdrawn requests stay
	// until the committer pops them (it skips them).
	queue  []*Pending
	closed bool

	wake    chan struct{} // capacity 1: the queue changed or Close began
	stopped chan struct{} // closed when the committer goroutine has returned

	closeOnce sync.Once
	closeErr  error

	// Counters for tests and benchmarks, written by the committer.
	nBatches   atomic.Int64 // transactions attempted
	nMutations atomic.Int64 // mutations in those transactions

	// Owned by the committer goroutine (and by OpenSQLite before it
	// starts it); no lock.
	seqs    map[string]map[uint32]int64 // session ID → task ID → tasks.seq; nil: reload
	nextSeq int64                       // the next tasks.seq to assign
	batch   []*Pending                  // reused between batches
	tx      batchTx                     // reused between batches
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating it if needed) the store in the SQLite database
// file at path, creates or migrates its schema, and starts the committer.
// The directory must exist. Close it to stop the committer and release the
// file. Only one process may use the file at a time: the connection holds an
// exclusive lock, and a second opener fails after a second with an error
// saying the file is locked by another process.
func OpenSQLite(path string, opts ...SQLiteOption) (*SQLite, error) {
	cfg := sqliteConfig{maxBatchMutations: DefaultMaxBatchMutations, maxBatchBytes: DefaultMaxBatchBytes, linger: DefaultCommitDelay}
	for _, o := range opts {
		o(&cfg)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// Pragmas, applied to every new connection (the pool has one):
	//   - busy_timeout: wait up to 1 s for the file lock (a previous owner
	//     that is just exiting), then fail.
	//   - locking_mode EXCLUSIVE, set before the journal mode: this process
	//     holds the file lock for good, so no other process can write behind
	//     our in-memory state, and SQLite keeps the WAL index in heap memory
	//     (no -shm file).
	//   - journal_mode WAL + synchronous FULL: a commit is durable once
	//     COMMIT returns (the WAL is fsynced on every commit).
	//   - journal_size_limit: truncate the WAL back to 64 MiB after
	//     checkpoints so one burst does not leave a huge file behind.
	//   - cache_size stays at SQLite's 2 MiB: the driver's allocator maps
	//     every cache page separately, so a larger cache made Load (100k
	//     tasks) twice as expensive and Close take over half a second, with
	//     no measurable gain for commits, which touch only the tail pages.
	// _txlock=immediate makes write transactions take the write lock at BEGIN.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(1000)")
	q.Add("_pragma", "locking_mode(EXCLUSIVE)")
	q.Add("_pragma", "journal_size_limit(67108864)")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and the statements
	// prepared below stay prepared on it.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)

	s := &SQLite{
		db:      db,
		path:    path,
		cfg:     cfg,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	s.tx.s = s
	if err := s.init(); err != nil {
		_ = db.Close()
		var se *sqlite.Error
		if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY {
			return nil, fmt.Errorf("open store %s: the file is locked by another process; stop the other flmctl cluster using it or choose another data directory: %w", path, err)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	go s.run()
	return s, nil
}

func (s *SQLite) init() error {
	ctx := context.Background()
	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, want wal; is the file on a file system without locking support?", mode)
	}
	if err := migrate(ctx, s.db, s.path); err != nil {
		return err
	}
	for i, q := range statementSQL {
		st, err := s.db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
		s.stmt[i] = st
	}
	for i, n := range rowChunks {
		var err error
		if s.putTasks[i], err = s.db.PrepareContext(ctx, putTasksSQL(n)); err != nil {
			return fmt.Errorf("prepare the statement that writes %d tasks: %w", n, err)
		}
		if s.insertInputs[i], err = s.db.PrepareContext(ctx, insertInputsSQL(n)); err != nil {
			return fmt.Errorf("prepare the statement that writes %d inputs: %w", n, err)
		}
	}
	seqs, next, err := loadSeqs(ctx, s.db)
	if err != nil {
		return err
	}
	s.seqs, s.nextSeq = seqs, next
	return nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// loadSeqs reads the (session ID, task ID) → seq map and the next free seq.
func loadSeqs(ctx context.Context, q queryer) (map[string]map[uint32]int64, int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, session_id, task_id FROM tasks`)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	seqs := make(map[string]map[uint32]int64)
	next := int64(1)
	for rows.Next() {
		var seq, taskID int64
		var sid string
		if err := rows.Scan(&seq, &sid, &taskID); err != nil {
			return nil, 0, err
		}
		byID := seqs[sid]
		if byID == nil {
			byID = make(map[uint32]int64)
			seqs[sid] = byID
		}
		byID[uint32(taskID)] = seq
		next = max(next, seq+1)
	}
	return seqs, next, rows.Err()
}

// Statements used by the committer, prepared once at open.
const (
	stPutApplication = iota
	stDeleteApplication
	stSessionsOfApplication
	stPutSession
	stDeleteSession
	stDeleteTask
	stDeleteInput
	numStatements
)

var statementSQL = [numStatements]string{
	stPutApplication:        `INSERT INTO applications (name, body) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body`,
	stDeleteApplication:     `DELETE FROM applications WHERE name = ?`,
	stSessionsOfApplication: `SELECT id FROM sessions WHERE application = ?`,
	stPutSession:            `INSERT INTO sessions (id, application, body) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET application = excluded.application, body = excluded.body`,
	stDeleteSession:         `DELETE FROM sessions WHERE id = ?`,
	stDeleteTask:            `DELETE FROM tasks WHERE seq = ?`,
	stDeleteInput:           `DELETE FROM task_inputs WHERE seq = ?`,
}

// Task rows are written by multi-row statements, rowChunks[i] rows at a
// time, largest chunk first: each statement has a fixed cost in
// database/sql, the driver and SQLite's VM. With one statement per row the
// committer spent 21-26 µs of CPU per task of BenchmarkDurableShare (pkg/
// local), with these 12-22 µs (alternated four times, label store=sqlite).
var rowChunks = [...]int{64, 16, 4, 1}

// putTasksSQL writes n task rows: a new seq is inserted, an existing one
// gets the new state and body (UpdateTask). session_id and task_id never
// change for a seq.
func putTasksSQL(n int) string {
	return `INSERT INTO tasks (seq, session_id, task_id, state, body) VALUES ` + valuesSQL(n, 5) +
		` ON CONFLICT (seq) DO UPDATE SET state = excluded.state, body = excluded.body`
}

// insertInputsSQL inserts n rows of inputs.
func insertInputsSQL(n int) string {
	return `INSERT INTO task_inputs (seq, input) VALUES ` + valuesSQL(n, 2)
}

// valuesSQL returns n groups of cols placeholders: "(?, ?), (?, ?)".
func valuesSQL(n, cols int) string {
	group := "(" + strings.Repeat("?, ", cols-1) + "?)"
	return strings.Repeat(group+", ", n-1) + group
}

// op is a validated, encoded mutation: it holds copies, never the caller's
// messages.
type op struct {
	kind     mutationKind
	id       string // application name, or the session ID (task ops too)
	app      string // PutSession: the session's application
	taskID   uint32
	state    int32
	body     []byte // marshalled record (tasks: without Spec.Input)
	input    []byte // CreateTask: a copy of Spec.Input
	hasInput bool
}

// String names the mutation, e.g. "UpdateTask(ssn-1/7)".
func (o *op) String() string {
	switch o.kind {
	case kindCreateTask, kindUpdateTask:
		return fmt.Sprintf("%v(%s/%d)", o.kind, o.id, o.taskID)
	}
	return fmt.Sprintf("%v(%s)", o.kind, o.id)
}

// prepare validates and encodes muts in the caller's goroutine, so the work
// is spread over the callers and the committer only runs SQL.
func prepare(muts []Mutation) (*Pending, error) {
	p := &Pending{ops: make([]op, len(muts)), nops: len(muts)}
	for i, m := range muts {
		taskID, err := m.check()
		if err != nil {
			return nil, err
		}
		o := &p.ops[i]
		o.kind = m.kind
		switch m.kind {
		case kindPutApplication:
			o.id = m.app.GetMetadata().GetName()
			o.body, err = proto.Marshal(m.app)
		case kindDeleteApplication, kindDeleteSession:
			o.id = m.id
		case kindPutSession:
			o.id = m.session.GetMetadata().GetId()
			o.app = m.session.GetSpec().GetApplication()
			o.body, err = proto.Marshal(m.session)
		case kindCreateTask, kindUpdateTask:
			o.id = m.task.GetSpec().GetSessionId()
			o.taskID = taskID
			o.state = int32(m.task.GetStatus().GetState())
			o.body, err = proto.Marshal(withoutInput(m.task))
			if m.kind == kindCreateTask && m.task.GetSpec().Input != nil {
				o.hasInput = true
				o.input = append(make([]byte, 0, len(m.task.GetSpec().GetInput())), m.task.GetSpec().GetInput()...)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("encode %v: %w", m, err)
		}
		p.bytes += len(o.id) + len(o.body) + len(o.input)
	}
	return p, nil
}

// Enqueue validates and encodes muts, appends them to the commit queue and
// returns without waiting for the disk.
func (s *SQLite) Enqueue(muts ...Mutation) *Pending {
	p, err := prepare(muts)
	if err != nil {
		return resolved(err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return resolved(ErrClosed)
	}
	if len(muts) == 0 {
		s.mu.Unlock()
		return resolved(nil)
	}
	p.done = make(chan struct{})
	s.queue = append(s.queue, p)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
	return p
}

// Commit makes muts durable, atomically, before it returns. See Store.
func (s *SQLite) Commit(ctx context.Context, muts ...Mutation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Enqueue(muts...).Wait(ctx)
}

// Close stops accepting mutations, waits for the committer to commit what
// was queued before, and closes the database.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
		<-s.stopped
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// run is the committer goroutine: it turns the queue into transactions until
// the store is closed and the queue is empty.
func (s *SQLite) run() {
	defer close(s.stopped)
	var lastStart time.Time
	lastMutations := 0
	for {
		if s.cfg.beforeTake != nil {
			s.cfg.beforeTake()
		}
		if s.cfg.linger > 0 && lastMutations >= commitDelayBusy {
			s.delay(lastStart.Add(s.cfg.linger))
		}
		batch, closed := s.take()
		if len(batch) == 0 {
			if closed {
				return
			}
			<-s.wake
			continue
		}
		if s.cfg.afterTake != nil {
			s.cfg.afterTake()
		}
		lastStart, lastMutations = time.Now(), 0
		for _, p := range batch {
			lastMutations += p.nops
		}
		err := s.commitBatch(batch)
		s.nBatches.Add(1)
		for _, p := range batch {
			s.nMutations.Add(int64(p.nops))
		}
		for i, p := range batch {
			p.finish(err)
			batch[i] = nil
		}
	}
}

// delay waits until deadline for the queue to fill, or less when it holds
// enough already or the store is closing.
func (s *SQLite) delay(deadline time.Time) {
	wait := time.Until(deadline)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := 0
		for _, p := range s.queue {
			n += p.nops
		}
		closed := s.closed
		s.mu.Unlock()
		if n >= commitDelayEnough || closed {
			return
		}
		select {
		case <-t.C:
			return
		case <-s.wake:
		}
	}
}

// take pops the next batch off the queue, skipping withdrawn requests.
func (s *SQLite) take() (batch []*Pending, closed bool) {
	batch = s.batch[:0]
	s.mu.Lock()
	defer s.mu.Unlock()
	n, bytes, i := 0, 0, 0
	for ; i < len(s.queue); i++ {
		p := s.queue[i]
		if len(batch) > 0 && (n+p.nops > s.cfg.maxBatchMutations || bytes+p.bytes > s.cfg.maxBatchBytes) {
			break
		}
		if !p.state.CompareAndSwap(pendingQueued, pendingTaken) {
			continue // withdrawn by Wait
		}
		batch = append(batch, p)
		n += p.nops
		bytes += p.bytes
	}
	rest := copy(s.queue, s.queue[i:])
	clear(s.queue[rest:])
	s.queue = s.queue[:rest]
	s.batch = batch
	return batch, s.closed
}

// commitBatch applies every request of batch in one transaction.
func (s *SQLite) commitBatch(batch []*Pending) (err error) {
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store %s: begin transaction: %w", s.path, err)
	}
	committing := false
	defer func() {
		if err != nil {
			if committing {
				// database/sql forgets a transaction whose COMMIT
				// failed, but SQLite may still hold it open on the
				// connection: end it, or every later BEGIN fails.
				_, _ = s.db.ExecContext(ctx, `ROLLBACK`)
			} else {
				_ = tx.Rollback()
			}
			// The seq map may describe the rolled-back transaction:
			// rebuild it from the database next time.
			s.seqs = nil
			err = fmt.Errorf("store %s: %w", s.path, err)
		}
	}()
	if s.seqs == nil {
		seqs, next, err := loadSeqs(ctx, tx)
		if err != nil {
			return fmt.Errorf("load task keys: %w", err)
		}
		s.seqs, s.nextSeq = seqs, max(s.nextSeq, next)
	}
	b := &s.tx
	b.begin(tx)
	defer b.end()
	for _, p := range batch {
		for i := range p.ops {
			if err := b.apply(ctx, &p.ops[i]); err != nil {
				return err
			}
		}
	}
	if err := b.flush(ctx); err != nil {
		return err
	}
	committing = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// batchTx is one group-commit transaction. It fetches the transaction's
// copies of the prepared statements on first use, and buffers the rows of
// task mutations so that a run of them is written by a few multi-row
// statements (flush) instead of one statement per row.
type batchTx struct {
	tx *sql.Tx
	s  *SQLite

	stmt                   [numStatements]*sql.Stmt
	putTasks, insertInputs [len(rowChunks)]*sql.Stmt

	// rows are the task rows to write, one per seq; rowAt indexes them by
	// seq so that a later mutation of the same task replaces its row.
	rows   []taskRow
	rowAt  map[int64]int
	inputs []inputRow
	args   []any
}

// taskRow and inputRow are the buffered rows of the tasks and task_inputs
// tables; both name the mutation that buffered them, for errors.
type taskRow struct {
	op     *op
	seq    int64
	sid    string
	taskID uint32
	state  int32
	body   []byte
}

type inputRow struct {
	op    *op
	seq   int64
	input []byte
}

func (r taskRow) mutation() *op { return r.op }
func (r taskRow) appendCols(args []any) []any {
	return append(args, r.seq, r.sid, int64(r.taskID), r.state, r.body)
}

func (r inputRow) mutation() *op               { return r.op }
func (r inputRow) appendCols(args []any) []any { return append(args, r.seq, r.input) }

// begin readies b, whose buffers are reused between transactions, for tx.
func (b *batchTx) begin(tx *sql.Tx) {
	b.tx = tx
	if b.rowAt == nil {
		b.rowAt = make(map[int64]int)
	}
}

// end drops what b holds of the finished transaction.
func (b *batchTx) end() {
	b.tx = nil
	b.stmt = [numStatements]*sql.Stmt{}
	b.putTasks = [len(rowChunks)]*sql.Stmt{}
	b.insertInputs = [len(rowChunks)]*sql.Stmt{}
	b.reset()
}

// reset empties the row buffers.
func (b *batchTx) reset() {
	clear(b.rows)
	b.rows = b.rows[:0]
	clear(b.rowAt)
	clear(b.inputs)
	b.inputs = b.inputs[:0]
	// Every chunk reslices args, so clear all of it: an earlier, longer
	// chunk's bodies and inputs would stay reachable until the next batch.
	clear(b.args[:cap(b.args)])
	b.args = b.args[:0]
}

func (b *batchTx) exec(ctx context.Context, st int, args ...any) error {
	if b.stmt[st] == nil {
		b.stmt[st] = b.tx.StmtContext(ctx, b.s.stmt[st])
	}
	_, err := b.stmt[st].ExecContext(ctx, args...)
	return err
}

// putRow buffers r, replacing the buffered row of the same seq (which
// keeps naming the mutation that buffered it first, usually its creation).
func (b *batchTx) putRow(r taskRow) {
	if i, ok := b.rowAt[r.seq]; ok {
		r.op = b.rows[i].op
		b.rows[i] = r
		return
	}
	b.rowAt[r.seq] = len(b.rows)
	b.rows = append(b.rows, r)
}

// flush writes the buffered rows: the task rows, then the inputs. Every
// mutation that is not a task's creation or update flushes first, so it
// sees the tasks changed before it, and nothing after it is written before
// it.
func (b *batchTx) flush(ctx context.Context) error {
	defer b.reset()
	if err := writeRows(ctx, b, "task rows", b.rows, &b.s.putTasks, &b.putTasks); err != nil {
		return err
	}
	return writeRows(ctx, b, "task inputs", b.inputs, &b.s.insertInputs, &b.insertInputs)
}

// writeRows writes rows with the multi-row statements prepared (one per
// size in rowChunks), largest first, fetching their copies for b's
// transaction into inTx on first use. A failed statement's error names the
// mutations of its rows: "CreateTask(s/2)" alone, or the first and last
// of several, like "64 task rows, of CreateTask(s/1) to UpdateTask(s/70)".
func writeRows[R interface {
	mutation() *op
	appendCols([]any) []any
}](ctx context.Context, b *batchTx, what string, rows []R, prepared, inTx *[len(rowChunks)]*sql.Stmt) error {
	for len(rows) > 0 {
		i, n := chunk(len(rows))
		b.args = b.args[:0]
		for _, r := range rows[:n] {
			b.args = r.appendCols(b.args)
		}
		if inTx[i] == nil {
			inTx[i] = b.tx.StmtContext(ctx, prepared[i])
		}
		if _, err := inTx[i].ExecContext(ctx, b.args...); err != nil {
			if n == 1 {
				return fmt.Errorf("%v: %w", rows[0].mutation(), err)
			}
			return fmt.Errorf("%d %s, of %v to %v: %w", n, what, rows[0].mutation(), rows[n-1].mutation(), err)
		}
		rows = rows[n:]
	}
	return nil
}

// chunk picks the statement for the next rows of a run of n: the index in
// rowChunks of the largest chunk not above n, and its size.
func chunk(n int) (int, int) {
	for i, c := range rowChunks {
		if c <= n {
			return i, c
		}
	}
	panic("chunk of no rows")
}

// apply applies o, or buffers its row. Its errors name the mutations whose
// statement failed.
func (b *batchTx) apply(ctx context.Context, o *op) error {
	s := b.s
	switch o.kind {
	case kindCreateTask:
		byID := s.seqs[o.id]
		if byID == nil {
			byID = make(map[uint32]int64)
			s.seqs[o.id] = byID
		}
		if old, ok := byID[o.taskID]; ok {
			// CreateTask replaces the whole task.
			if err := b.flush(ctx); err != nil {
				return err
			}
			if err := b.deleteTask(ctx, old); err != nil {
				return fmt.Errorf("%v: %w", o, err)
			}
		}
		seq := s.nextSeq
		s.nextSeq++
		byID[o.taskID] = seq
		b.putRow(taskRow{op: o, seq: seq, sid: o.id, taskID: o.taskID, state: o.state, body: o.body})
		if o.hasInput {
			b.inputs = append(b.inputs, inputRow{op: o, seq: seq, input: o.input})
		}
		return nil
	case kindUpdateTask:
		seq, ok := s.seqs[o.id][o.taskID]
		if !ok {
			return nil // no such task
		}
		b.putRow(taskRow{op: o, seq: seq, sid: o.id, taskID: o.taskID, state: o.state, body: o.body})
		return nil
	}
	// Other mutations run in order after the task rows buffered before them.
	if err := b.flush(ctx); err != nil {
		return err
	}
	if err := b.applyOther(ctx, o); err != nil {
		return fmt.Errorf("%v: %w", o, err)
	}
	return nil
}

// applyOther applies a mutation that is not a task's creation or update.
func (b *batchTx) applyOther(ctx context.Context, o *op) error {
	s := b.s
	switch o.kind {
	case kindPutApplication:
		return b.exec(ctx, stPutApplication, o.id, o.body)
	case kindDeleteApplication:
		if err := b.exec(ctx, stDeleteApplication, o.id); err != nil {
			return err
		}
		if b.stmt[stSessionsOfApplication] == nil {
			b.stmt[stSessionsOfApplication] = b.tx.StmtContext(ctx, s.stmt[stSessionsOfApplication])
		}
		rows, err := b.stmt[stSessionsOfApplication].QueryContext(ctx, o.id)
		if err != nil {
			return err
		}
		var victims []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			victims = append(victims, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, id := range victims {
			if err := b.deleteSession(ctx, id); err != nil {
				return err
			}
		}
		return nil
	case kindPutSession:
		return b.exec(ctx, stPutSession, o.id, o.app, o.body)
	case kindDeleteSession:
		return b.deleteSession(ctx, o.id)
	}
	return fmt.Errorf("unknown mutation kind %d", o.kind)
}

// deleteTask removes the task stored at seq, with its input.
func (b *batchTx) deleteTask(ctx context.Context, seq int64) error {
	if err := b.exec(ctx, stDeleteTask, seq); err != nil {
		return err
	}
	return b.exec(ctx, stDeleteInput, seq)
}

// deleteSession removes session id and all of its tasks. The tasks are found
// through the seq map, so the cost is proportional to the session's tasks,
// not to the table.
func (b *batchTx) deleteSession(ctx context.Context, id string) error {
	for _, seq := range b.s.seqs[id] {
		if err := b.deleteTask(ctx, seq); err != nil {
			return err
		}
	}
	delete(b.s.seqs, id)
	return b.exec(ctx, stDeleteSession, id)
}

// Load reads the whole store in one read transaction. It waits for the
// transaction the committer is running, if any.
func (s *SQLite) Load(ctx context.Context) (st *State, err error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("load store %s: %w", s.path, err)
		}
	}()
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	st = &State{}

	rows, err := tx.QueryContext(ctx, `SELECT name, body FROM applications ORDER BY name`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var name string
		var body sql.RawBytes
		if err := rows.Scan(&name, &body); err != nil {
			rows.Close()
			return nil, err
		}
		app := new(flamev1.Application)
		if err := proto.Unmarshal(body, app); err != nil {
			rows.Close()
			return nil, fmt.Errorf("decode application %q: %w", name, err)
		}
		st.Applications = append(st.Applications, app)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}

	rows, err = tx.QueryContext(ctx, `SELECT id, body FROM sessions ORDER BY id`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var body sql.RawBytes
		if err := rows.Scan(&id, &body); err != nil {
			rows.Close()
			return nil, err
		}
		ssn := new(flamev1.Session)
		if err := proto.Unmarshal(body, ssn); err != nil {
			rows.Close()
			return nil, fmt.Errorf("decode session %q: %w", id, err)
		}
		st.Sessions = append(st.Sessions, ssn)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}

	// Tasks are stored in creation order; sort them by key afterwards
	// (cheaper than letting SQLite sort rows that carry blobs).
	type keyed struct {
		sid  string
		id   int64
		task *flamev1.Task
	}
	var count int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tasks`).Scan(&count); err != nil {
		return nil, err
	}
	tasks := make([]keyed, 0, count)
	rows, err = tx.QueryContext(ctx, `SELECT t.session_id, t.task_id, t.body, i.seq IS NOT NULL, i.input
		FROM tasks AS t LEFT JOIN task_inputs AS i ON i.seq = t.seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k keyed
		var body sql.RawBytes
		var hasInput bool
		var input []byte
		if err := rows.Scan(&k.sid, &k.id, &body, &hasInput, &input); err != nil {
			return nil, err
		}
		k.task = new(flamev1.Task)
		if err := proto.Unmarshal(body, k.task); err != nil {
			return nil, fmt.Errorf("decode task %d of session %q: %w", k.id, k.sid, err)
		}
		if hasInput {
			if input == nil {
				input = []byte{}
			}
			if k.task.Spec == nil {
				k.task.Spec = new(flamev1.TaskSpec)
			}
			k.task.Spec.Input = input
		}
		tasks = append(tasks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(tasks, func(a, b keyed) int {
		if c := strings.Compare(a.sid, b.sid); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	st.Tasks = make([]*flamev1.Task, len(tasks))
	for i, k := range tasks {
		st.Tasks[i] = k.task
	}
	return st, nil
}
