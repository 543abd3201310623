-- Ping writes its one row, so that readiness fails while writes do.
CREATE TABLE health (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL                         -- Unix ns of the last Ping
) STRICT;

-- The keys of webhook deliveries seen (Remember), each until it expires:
-- a replayed delivery is recognised and acknowledged without a second event.
CREATE TABLE webhook_keys (
    key        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL                 -- Unix ns
) STRICT;
CREATE INDEX webhook_keys_expiry ON webhook_keys (expires_at);

-- A fingerprint of the request that made a verification with an
-- idempotency key: the key used again with another request is refused.
-- NULL for verifications made before it was kept: not checked.
ALTER TABLE verifications ADD COLUMN request_hash TEXT;
