-- Her feedback from the receipt: anonymous, one per verification.
CREATE TABLE feedback (
    verification_id TEXT PRIMARY KEY REFERENCES verifications (id),
    treated         TEXT NOT NULL,
    explained       TEXT NOT NULL DEFAULT '',
    misconduct      INTEGER NOT NULL DEFAULT 0,
    report          TEXT NOT NULL DEFAULT '',
    at              INTEGER NOT NULL -- Unix nanoseconds
);
CREATE INDEX feedback_at ON feedback (at);
