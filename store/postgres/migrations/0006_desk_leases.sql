-- The supervisor desks' lines, one row for each room and line ever claimed.
-- A line is held while its expires_at is in the future by the database's
-- clock; a release sets expires_at to the release's time. fence only grows.
CREATE TABLE IF NOT EXISTS desk_leases (
    room_id    text NOT NULL,
    line       integer NOT NULL,
    holder     text NOT NULL,
    fence      bigint NOT NULL,
    claimed_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (room_id, line)
);
