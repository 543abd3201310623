-- The deployment's tamper-evident log (see ledger.go). Every event and ops
-- entry is written with its leaf; the sequencer gives each leaf its place
-- (idx, dense from 0) and writes the tree's stored hashes (tlog's layout,
-- by stored index n); checkpoints are the signed notes of its sizes. The
-- records written before the log began get their leaves here, oldest
-- first: their nonces are made now, so they are covered from now on.
-- A leaf's id is its record's: an event's Seq times two, an ops entry's ID
-- times two plus one, so that a record's leaf is found by the table's own
-- key and writing one touches no other index than the waiting one (the
-- index of places holds only the sequenced leaves).
CREATE TABLE log_leaves (
    id    INTEGER PRIMARY KEY,
    idx   INTEGER,
    kind  TEXT NOT NULL,
    ref   INTEGER NOT NULL,
    data  BLOB NOT NULL,
    nonce BLOB,
    hash  BLOB NOT NULL
) STRICT;

CREATE UNIQUE INDEX log_leaves_idx ON log_leaves (idx) WHERE idx IS NOT NULL;
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
