-- The supervisor desks' lines, one row for each room and line ever claimed.
-- A line is held while its expires_at is in the future; a release sets
-- expires_at to the release's time. fence only grows.
CREATE TABLE desk_leases (
    room_id    TEXT NOT NULL,
    line       INTEGER NOT NULL,
    holder     TEXT NOT NULL,    -- the verification ringing the desk
    fence      INTEGER NOT NULL,
    claimed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, line)
) STRICT;
