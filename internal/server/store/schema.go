package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migrations[i] moves the schema from version i to version i+1. Append new
// steps; never edit a released one.
//
// Layout (version 1):
//
//   - applications: one row per application, keyed by name; body is the
//     marshalled flamev1.Application.
//   - sessions: one row per session, keyed by ID; application is copied out
//     of the message for DeleteApplication; body is the marshalled
//     flamev1.Session.
//   - tasks: seq is a store-assigned sequence number in order of creation,
//     so the rows written by one group commit sit together at the end of
//     the table's B-tree: a commit of a few hundred tasks of many sessions
//     dirties a handful of pages instead of a few pages per session (keyed
//     by (session, task ID) it wrote about six times as many WAL frames).
//     session_id and task_id are the record's key, read at open to rebuild
//     the committer's (session, task ID) → seq map; state is the TaskState,
//     for inspection with the sqlite3 shell; body is the marshalled
//     flamev1.Task without Spec.Input. A session's tasks need not have a
//     sessions row (see CreateTask).
//   - task_inputs: the inputs, in their own table keyed by the task's seq,
//     because SQLite rewrites a whole row (overflow pages included) when a
//     column changes size: keeping the input out of the tasks row is what
//     makes UpdateTask independent of the input size. A task whose input is
//     absent has no row here; an empty input is a zero-length blob.
var migrations = [][]string{
	{
		`CREATE TABLE applications (
			name TEXT PRIMARY KEY,
			body BLOB NOT NULL
		)`,
		`CREATE TABLE sessions (
			id          TEXT PRIMARY KEY,
			application TEXT NOT NULL,
			body        BLOB NOT NULL
		)`,
		`CREATE INDEX sessions_by_application ON sessions (application)`,
		`CREATE TABLE tasks (
			seq        INTEGER PRIMARY KEY,
			session_id TEXT NOT NULL,
			task_id    INTEGER NOT NULL,
			state      INTEGER NOT NULL,
			body       BLOB NOT NULL
		)`,
		`CREATE TABLE task_inputs (
			seq   INTEGER PRIMARY KEY,
			input BLOB NOT NULL
		)`,
	},
}

// schemaVersion is the version this code writes.
var schemaVersion = len(migrations)

// migrate creates or upgrades the schema in one transaction.
func migrate(ctx context.Context, db *sql.DB, path string) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()

	var hasVersionTable bool
	err = tx.QueryRowContext(ctx,
		`SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'`).Scan(&hasVersionTable)
	if err != nil {
		return err
	}
	version := 0
	if hasVersionTable {
		err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s has an empty schema_version table; it is not a usable flmctl store, move it away", path)
		}
		if err != nil {
			return err
		}
	} else {
		var tables int
		if err = tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table'`).Scan(&tables); err != nil {
			return err
		}
		if tables > 0 {
			return fmt.Errorf("%s is an SQLite database but not an flmctl store (no schema_version table); use another path", path)
		}
		if _, err = tx.ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER NOT NULL)`); err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return err
		}
	}
	if version > schemaVersion {
		return fmt.Errorf("%s has store schema version %d but this flmctl knows only up to %d; use a newer flmctl", path, version, schemaVersion)
	}
	for v := version; v < schemaVersion; v++ {
		for _, q := range migrations[v] {
			if _, err = tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("migrate store schema to version %d: %w", v+1, err)
			}
		}
	}
	if version != schemaVersion {
		if _, err = tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, schemaVersion); err != nil {
			return err
		}
	}
	return tx.Commit()
}
