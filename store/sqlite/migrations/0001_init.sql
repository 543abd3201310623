-- Devices and their claims. Times are Unix nanoseconds (UTC); NULL is "never".

CREATE TABLE devices (
    id        TEXT PRIMARY KEY,
    room_id   TEXT NOT NULL,
    name      TEXT NOT NULL DEFAULT '',
    number    TEXT NOT NULL DEFAULT '',
    handles   TEXT NOT NULL DEFAULT '{}', -- JSON object: channel -> handle
    status    TEXT NOT NULL,
    battery   INTEGER NOT NULL DEFAULT -1,
    apps      TEXT NOT NULL DEFAULT '[]', -- JSON array of channels
    last_seen INTEGER,                    -- last heartbeat; NULL never seen
    last_used INTEGER,                    -- last claim; NULL never claimed
    version   INTEGER NOT NULL DEFAULT 1, -- bumped on every rotation
    fence     INTEGER NOT NULL DEFAULT 0  -- the last fence handed out; never reused
) STRICT;

CREATE INDEX devices_room ON devices (room_id, status, last_used, id);

-- Every claim ever made. The live lease of a device is its one unreleased
-- claim, while it has not expired.
CREATE TABLE claims (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   TEXT NOT NULL REFERENCES devices (id),
    room_id     TEXT NOT NULL,               -- the device's room when claimed
    fence       INTEGER NOT NULL,
    holder      TEXT NOT NULL,
    claimed_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    released_at INTEGER,                     -- NULL while open
    reason      TEXT NOT NULL DEFAULT '',    -- released, expired, ...
    UNIQUE (device_id, fence)
) STRICT;

-- At most one open claim per device: a double claim cannot even be written.
CREATE UNIQUE INDEX claims_open ON claims (device_id) WHERE released_at IS NULL;
CREATE INDEX claims_open_holder ON claims (holder) WHERE released_at IS NULL;
CREATE INDEX claims_open_expiry ON claims (expires_at) WHERE released_at IS NULL;
