-- Credentials carry who holds them: an officer-app credential its officer
-- (gateway.OfficerIdentity), a supervisor's his rank, number and rooms
-- (gateway.SupervisorIdentity); NULL for none. NULL expires_at never
-- expires; NULL revoked_at is not revoked.
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS officer jsonb;
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS supervisor jsonb;
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS issued_at timestamptz;
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS expires_at timestamptz;
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS revoked_at timestamptz;

-- Requests refused for whom they named (an officer credential used in
-- another officer's name), for the room's supervisors to see.
CREATE TABLE IF NOT EXISTS refusals (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL,
    room_id  text NOT NULL DEFAULT '',
    token_id text NOT NULL,
    reason   text NOT NULL,
    officer  text NOT NULL DEFAULT '',
    stated   text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS refusals_room ON refusals (room_id, at);
