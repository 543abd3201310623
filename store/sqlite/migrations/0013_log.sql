-- The deployment's tamper-evident log (see ledger.go). Every event and ops
-- entry is written with its leaf, at its place (idx, dense from 0); the
-- sequencer writes the tree's stored hashes (tlog's layout, by stored index
-- n); checkpoints are the signed notes of its sizes. The
-- records written before the log began get their leaves here, oldest
-- first: their nonces are made now, so they are covered from now on.
-- SQLite has one writer, so a leaf's place is given as it is written: idx
-- is the table's own key, the next after the last, and the record keeps
-- its leaf's place (events.leaf, ops_events.leaf), so that writing a leaf
-- touches no index and sequencing rewrites no leaf. The sequencer hashes
-- the leaves from log_state's size on into the tree; until then a leaf is
-- waiting.
CREATE TABLE log_leaves (
    idx   INTEGER PRIMARY KEY,
    kind  TEXT NOT NULL,
    ref   INTEGER NOT NULL,
    data  BLOB NOT NULL,
    nonce BLOB,
    hash  BLOB NOT NULL
) STRICT;

ALTER TABLE events ADD COLUMN leaf INTEGER;
ALTER TABLE ops_events ADD COLUMN leaf INTEGER;

CREATE TABLE log_state (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    size INTEGER NOT NULL
) STRICT;
INSERT INTO log_state (one, size) VALUES (1, 0);

CREATE TABLE log_hashes (
    n    INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
) STRICT;

CREATE TABLE log_checkpoints (
    size INTEGER PRIMARY KEY,
    note BLOB NOT NULL,
    at   INTEGER NOT NULL
) STRICT;
