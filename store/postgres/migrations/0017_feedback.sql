-- Her feedback from the receipt: anonymous, one per verification.
CREATE TABLE feedback (
    verification_id TEXT PRIMARY KEY REFERENCES verifications (id),
    treated         TEXT NOT NULL,
    explained       TEXT NOT NULL DEFAULT '',
    misconduct      BOOLEAN NOT NULL DEFAULT FALSE,
    report          TEXT NOT NULL DEFAULT '',
    at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX feedback_at ON feedback (at);
