-- Legal holds, and when a verification's personal fields were erased.
CREATE TABLE holds (
    verification_id TEXT PRIMARY KEY REFERENCES verifications (id),
    reason          TEXT NOT NULL,
    actor_id        TEXT NOT NULL,
    actor_name      TEXT NOT NULL,
    at              INTEGER NOT NULL
) STRICT;

ALTER TABLE verifications ADD COLUMN erased_at INTEGER; -- NULL not erased
