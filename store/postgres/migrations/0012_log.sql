-- The deployment's tamper-evident log (see ledger.go). Every event and ops
-- entry is written with its leaf; the sequencer, one instance at a time
-- under the log's advisory lock, gives each leaf its place (idx, dense
-- from 0) and writes the tree's stored hashes (tlog's layout, by stored
-- index n); checkpoints are the signed notes of its sizes. The records
-- written before the log began get their leaves in this migration's
-- transaction.
CREATE TABLE IF NOT EXISTS log_leaves (
    id    bigserial PRIMARY KEY,
    idx   bigint UNIQUE,
    kind  text NOT NULL,
    ref   bigint NOT NULL,
    data  bytea NOT NULL,
    nonce bytea,
    hash  bytea NOT NULL,
    UNIQUE (kind, ref)
);

CREATE INDEX IF NOT EXISTS log_leaves_waiting ON log_leaves (id) WHERE idx IS NULL;

CREATE TABLE IF NOT EXISTS log_hashes (
    n    bigint PRIMARY KEY,
    hash bytea NOT NULL
);

CREATE TABLE IF NOT EXISTS log_checkpoints (
    size bigint PRIMARY KEY,
    note bytea NOT NULL,
    at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
