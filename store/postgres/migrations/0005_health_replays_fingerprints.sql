-- Ping writes its one row, so that readiness fails while writes do.
CREATE TABLE health (
    id integer PRIMARY KEY CHECK (id = 1),
    at timestamptz NOT NULL
);

-- The keys of webhook deliveries seen (Remember), each until it expires:
-- a replayed delivery is recognised and acknowledged without a second
-- event. Expired keys are swept by Remember itself, a few at a time.
CREATE TABLE webhook_keys (
    key        text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX webhook_keys_expiry ON webhook_keys (expires_at);

-- A fingerprint of the request that made a verification with an
-- idempotency key: the key used again with another request is refused.
-- NULL for verifications made before it was kept: not checked.
ALTER TABLE verifications ADD COLUMN request_hash text;
