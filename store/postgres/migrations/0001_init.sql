-- The gateway's tables. Times are timestamptz and judged by the database's
-- clock; an unset time is NULL.

CREATE TABLE devices (
    id               text PRIMARY KEY,
    room_id          text NOT NULL,
    name             text NOT NULL DEFAULT '',
    number           text NOT NULL DEFAULT '',
    handles          jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'in_service',
    battery          integer NOT NULL DEFAULT -1,
    apps             jsonb NOT NULL DEFAULT '[]',
    last_seen        timestamptz,
    last_used        timestamptz,
    version          bigint NOT NULL DEFAULT 1,
    -- The lease: fence only grows; lease_holder is NULL when there is none.
    -- A lease whose lease_expires_at has passed is free even before it is
    -- swept.
    fence            bigint NOT NULL DEFAULT 0,
    lease_holder     text,
    lease_claimed_at timestamptz,
    lease_expires_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX devices_room ON devices (room_id, status, last_used);
CREATE INDEX devices_lease_holder ON devices (lease_holder) WHERE lease_holder IS NOT NULL;
CREATE INDEX devices_lease_expires ON devices (lease_expires_at) WHERE lease_holder IS NOT NULL;

CREATE TABLE claims (
    id          bigserial PRIMARY KEY,
    device_id   text NOT NULL REFERENCES devices (id),
    fence       bigint NOT NULL,
    holder      text NOT NULL,
    claimed_at  timestamptz NOT NULL,
    released_at timestamptz,
    reason      text NOT NULL DEFAULT '',
    UNIQUE (device_id, fence)
);

CREATE TABLE verifications (
    id              text PRIMARY KEY,
    reference       text NOT NULL,
    state           text NOT NULL,
    officer         jsonb NOT NULL DEFAULT '{}',
    lat             double precision NOT NULL DEFAULT 0,
    lon             double precision NOT NULL DEFAULT 0,
    contacts        jsonb NOT NULL DEFAULT '[]',
    room_id         text NOT NULL DEFAULT '',
    device_id       text NOT NULL DEFAULT '',
    channel         text NOT NULL DEFAULT '',
    join_url        text NOT NULL DEFAULT '',
    reason          text NOT NULL DEFAULT '',
    outcome         jsonb,
    requested_by    text NOT NULL DEFAULT '',
    idempotency_key text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    deadline        timestamptz,
    owner           text NOT NULL DEFAULT '',
    owner_until     timestamptz,
    queued_at       timestamptz
);

CREATE UNIQUE INDEX verifications_reference ON verifications (reference) WHERE reference <> '';
CREATE UNIQUE INDEX verifications_idempotency ON verifications (requested_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX verifications_state ON verifications (state, created_at);

CREATE TABLE attempts (
    id              text PRIMARY KEY,
    verification_id text NOT NULL REFERENCES verifications (id),
    seq             integer NOT NULL,
    channel         text NOT NULL DEFAULT '',
    room_id         text NOT NULL DEFAULT '',
    device_id       text NOT NULL DEFAULT '',
    provider_ref    text NOT NULL DEFAULT '',
    join_url        text NOT NULL DEFAULT '',
    started_at      timestamptz,
    ended_at        timestamptz,
    tries           integer NOT NULL DEFAULT 0,
    result          text NOT NULL DEFAULT '',
    error           text NOT NULL DEFAULT ''
);

CREATE INDEX attempts_verification ON attempts (verification_id, seq);
CREATE INDEX attempts_provider_ref ON attempts (channel, provider_ref) WHERE provider_ref <> '';

-- Events are written under a transaction-scoped advisory lock, so that seq
-- order is commit order: a reader that has seen seq n never later finds a
-- new event below n.
CREATE TABLE events (
    seq             bigserial PRIMARY KEY,
    verification_id text NOT NULL,
    type            text NOT NULL DEFAULT '',
    state           text NOT NULL DEFAULT '',
    attempt_id      text NOT NULL DEFAULT '',
    message         text NOT NULL DEFAULT '',
    data            jsonb,
    at              timestamptz NOT NULL,
    instance        text NOT NULL DEFAULT ''
);

CREATE INDEX events_verification ON events (verification_id, seq);

CREATE TABLE tokens (
    id      text PRIMARY KEY,
    role    text NOT NULL,
    name    text NOT NULL DEFAULT '',
    subject text NOT NULL DEFAULT '',
    hash    text NOT NULL UNIQUE,
    revoked boolean NOT NULL DEFAULT false
);

CREATE TABLE orders (
    n               bigserial UNIQUE,
    id              text PRIMARY KEY,
    device_id       text NOT NULL,
    verification_id text NOT NULL DEFAULT '',
    attempt_id      text NOT NULL DEFAULT '',
    kind            text NOT NULL,
    channel         text NOT NULL DEFAULT '',
    handle          text NOT NULL DEFAULT '',
    join_url        text NOT NULL DEFAULT '',
    reference       text NOT NULL DEFAULT '',
    status          text NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz
);

CREATE INDEX orders_device ON orders (device_id, status, n);
