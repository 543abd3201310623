-- The outbox: what the force's incident system is to be told, written
-- with the event that closed the verification, until it answers 2xx.
CREATE TABLE outbox (
    n               INTEGER PRIMARY KEY, -- writing order
    id              TEXT NOT NULL UNIQUE, -- the webhook-id of every try
    verification_id TEXT NOT NULL,
    type            TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         INTEGER NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    since           INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    lease_owner     TEXT NOT NULL DEFAULT '',
    lease_until     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (verification_id, type)
) STRICT;

CREATE INDEX outbox_due ON outbox (next_at) WHERE state = 'pending';
