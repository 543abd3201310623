-- Legal holds, and when a verification's personal fields were erased.
CREATE TABLE IF NOT EXISTS holds (
    verification_id text PRIMARY KEY REFERENCES verifications (id),
    reason          text NOT NULL,
    actor_id        text NOT NULL,
    actor_name      text NOT NULL,
    at              timestamptz NOT NULL DEFAULT clock_timestamp()
);

ALTER TABLE verifications ADD COLUMN IF NOT EXISTS erased_at timestamptz;
