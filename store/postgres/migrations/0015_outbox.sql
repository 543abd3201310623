-- The outbox: what the force's incident system is to be told, written
-- with the event that closed the verification, until it answers 2xx.
CREATE TABLE outbox (
    n               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- writing order
    id              TEXT NOT NULL UNIQUE, -- the webhook-id of every try
    verification_id TEXT NOT NULL,
    type            TEXT NOT NULL,
    body            JSONB NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         TIMESTAMPTZ NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    since           TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    lease_owner     TEXT NOT NULL DEFAULT '',
    lease_until     TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    UNIQUE (verification_id, type)
);

CREATE INDEX outbox_due ON outbox (next_at) WHERE state = 'pending';
