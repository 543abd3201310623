-- Credentials carry who holds them: an officer-app credential its officer
-- (JSON gateway.OfficerIdentity), a supervisor's his rank, number and rooms
-- (JSON gateway.SupervisorIdentity); '' for none. Times are Unix
-- nanoseconds; NULL expires_at never expires, NULL revoked_at is not
-- revoked. Credentials of before have no issue time.
ALTER TABLE tokens ADD COLUMN officer TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN supervisor TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN issued_at INTEGER;
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;

-- Requests refused for whom they named (an officer credential used in
-- another officer's name), for the room's supervisors to see.
CREATE TABLE refusals (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    room_id  TEXT NOT NULL DEFAULT '',
    token_id TEXT NOT NULL,
    reason   TEXT NOT NULL,
    officer  TEXT NOT NULL DEFAULT '',
    stated   TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX refusals_room ON refusals (room_id, at);
