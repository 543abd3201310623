-- The deployment's tamper-evident log (see ledger.go). Every event and ops
-- entry is written with its leaf; the sequencer gives each leaf its place
-- (idx, dense from 0) and writes the tree's stored hashes (tlog's layout,
-- by stored index n); checkpoints are the signed notes of its sizes. The
-- records written before the log began get their leaves here, oldest
-- first: their nonces are made now, so they are covered from now on.
CREATE TABLE log_leaves (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    idx   INTEGER UNIQUE,
    kind  TEXT NOT NULL,
    ref   INTEGER NOT NULL,
    data  BLOB NOT NULL,
    nonce BLOB,
    hash  BLOB NOT NULL,
    UNIQUE (kind, ref)
) STRICT;

CREATE INDEX log_leaves_waiting ON log_leaves (id) WHERE idx IS NULL;

CREATE TABLE log_hashes (
    n    INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
) STRICT;

CREATE TABLE log_checkpoints (
    size INTEGER PRIMARY KEY,
    note BLOB NOT NULL,
    at   INTEGER NOT NULL
) STRICT;
