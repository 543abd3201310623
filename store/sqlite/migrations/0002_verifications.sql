-- Verifications with their attempts and events; credentials; dial orders.
-- Times are Unix nanoseconds (UTC); NULL is "unset".

CREATE TABLE verifications (
    id              TEXT PRIMARY KEY,
    reference       TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL,
    officer         TEXT NOT NULL DEFAULT '{}', -- JSON gateway.Officer
    lat             REAL NOT NULL DEFAULT 0,
    lon             REAL NOT NULL DEFAULT 0,
    contacts        TEXT NOT NULL DEFAULT '[]', -- JSON array of gateway.Contact
    room_id         TEXT NOT NULL DEFAULT '',
    device_id       TEXT NOT NULL DEFAULT '',
    channel         TEXT NOT NULL DEFAULT '',
    join_url        TEXT NOT NULL DEFAULT '',
    reason          TEXT NOT NULL DEFAULT '',
    outcome         TEXT,                       -- JSON gateway.Outcome; NULL none yet
    requested_by    TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT,                       -- NULL none
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    deadline        INTEGER,
    owner           TEXT NOT NULL DEFAULT '',
    owner_until     INTEGER,
    queued_at       INTEGER
) STRICT;

CREATE UNIQUE INDEX verifications_reference ON verifications (reference) WHERE reference != '';
-- Idempotency keys are scoped to the requester.
CREATE UNIQUE INDEX verifications_idempotency ON verifications (requested_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX verifications_state ON verifications (state, created_at);

CREATE TABLE attempts (
    id              TEXT PRIMARY KEY,
    verification_id TEXT NOT NULL REFERENCES verifications (id),
    seq             INTEGER NOT NULL,
    channel         TEXT NOT NULL DEFAULT '',
    room_id         TEXT NOT NULL DEFAULT '',
    device_id       TEXT NOT NULL DEFAULT '',
    provider_ref    TEXT NOT NULL DEFAULT '',
    join_url        TEXT NOT NULL DEFAULT '',
    started_at      INTEGER,
    ended_at        INTEGER,
    tries           INTEGER NOT NULL DEFAULT 0,
    result          TEXT NOT NULL DEFAULT '',
    error           TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX attempts_verification ON attempts (verification_id, seq);
CREATE INDEX attempts_provider_ref ON attempts (channel, provider_ref) WHERE provider_ref != '';

-- A verification's durable record. seq is store-wide and never reused.
CREATE TABLE events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    verification_id TEXT NOT NULL REFERENCES verifications (id),
    type            TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL DEFAULT '',
    attempt_id      TEXT NOT NULL DEFAULT '',
    message         TEXT NOT NULL DEFAULT '',
    data            TEXT,                       -- JSON object; NULL none
    at              INTEGER NOT NULL,
    instance        TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX events_verification ON events (verification_id, seq);

-- Credentials: only the SHA-256 of a secret is kept.
CREATE TABLE tokens (
    id      TEXT PRIMARY KEY,
    role    TEXT NOT NULL,
    name    TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    hash    TEXT NOT NULL UNIQUE,
    revoked INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE orders (
    id              TEXT PRIMARY KEY,
    device_id       TEXT NOT NULL,
    verification_id TEXT NOT NULL DEFAULT '',
    attempt_id      TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL,
    channel         TEXT NOT NULL DEFAULT '',
    handle          TEXT NOT NULL DEFAULT '',
    join_url        TEXT NOT NULL DEFAULT '',
    reference       TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER                     -- NULL never
) STRICT;

CREATE INDEX orders_pending ON orders (device_id, created_at) WHERE status = 'pending';
