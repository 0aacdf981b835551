-- Bulk imports (POST /imports): the file is kept until the import finishes so a
-- crashed or restarted process can resume it; `rows_done` only moves in the same
-- transaction as the batch it counts, so a batch is imported once. `lease_until`
-- lets one process work an import at a time and another take over after a crash.
CREATE TABLE imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    format TEXT NOT NULL,
    status TEXT NOT NULL,
    batch_size BIGINT,
    rows_total BIGINT NOT NULL,
    rows_done BIGINT NOT NULL,
    rows_imported BIGINT NOT NULL,
    rows_failed BIGINT NOT NULL,
    errors TEXT NOT NULL,
    payload TEXT NOT NULL,
    principal TEXT NOT NULL,
    actor TEXT NOT NULL,
    lease_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX imports_actor ON imports (actor, id);
CREATE INDEX imports_open ON imports (status, id);
