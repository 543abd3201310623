-- What ops staff change of the rooms and the device pool, and the ops
-- record. A device's change made while it is in a call waits in pending
-- (JSON: the change, who asked, why) until its lease ends. Every version of
-- a device is kept; the devices there were before are given theirs.
ALTER TABLE devices ADD COLUMN pending TEXT;

CREATE TABLE device_versions (
    device_id TEXT NOT NULL,
    version   INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    by        TEXT NOT NULL DEFAULT '',
    name      TEXT NOT NULL,
    number    TEXT NOT NULL,
    handles   TEXT NOT NULL,
    status    TEXT NOT NULL,
    reason    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (device_id, version)
) STRICT;

INSERT INTO device_versions (device_id, version, at, name, number, handles, status, reason)
SELECT id, version, unixepoch() * 1000000000, name, number, handles, status, 'as it was when its history began'
FROM devices;

CREATE TABLE ops_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor_id   TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    action     TEXT NOT NULL,
    room_id    TEXT NOT NULL DEFAULT '',
    device_id  TEXT NOT NULL DEFAULT '',
    before     TEXT NOT NULL DEFAULT 'null', -- JSON
    after      TEXT NOT NULL DEFAULT 'null', -- JSON
    reason     TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX ops_events_room ON ops_events (room_id, at);
CREATE INDEX ops_events_device ON ops_events (device_id, at);

CREATE TABLE room_overrides (
    room_id     TEXT PRIMARY KEY,
    number      TEXT NOT NULL,
    desk_number TEXT NOT NULL,
    handles     TEXT NOT NULL, -- JSON object: channel -> handle
    neighbours  TEXT NOT NULL, -- JSON array of room IDs
    updated_at  INTEGER NOT NULL
) STRICT;
