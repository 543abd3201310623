-- What ops staff change of the rooms and the device pool, and the ops
-- record. A device's change made while it is in a call waits in pending
-- (the change, who asked, why) until its lease ends. Every version of a
-- device is kept; the devices there were before are given theirs.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS pending jsonb;

CREATE TABLE IF NOT EXISTS device_versions (
    device_id text NOT NULL,
    version   bigint NOT NULL,
    at        timestamptz NOT NULL,
    by        text NOT NULL DEFAULT '',
    name      text NOT NULL,
    number    text NOT NULL,
    handles   jsonb NOT NULL,
    status    text NOT NULL,
    reason    text NOT NULL DEFAULT '',
    PRIMARY KEY (device_id, version)
);

INSERT INTO device_versions (device_id, version, at, name, number, handles, status, reason)
SELECT id, version, now(), name, number, handles, status, 'as it was when its history began'
FROM devices
ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS ops_events (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor_id   text NOT NULL,
    actor_name text NOT NULL,
    action     text NOT NULL,
    room_id    text NOT NULL DEFAULT '',
    device_id  text NOT NULL DEFAULT '',
    before     jsonb,
    after      jsonb,
    reason     text NOT NULL DEFAULT ''
);

CREATE INDEX IF NOT EXISTS ops_events_room ON ops_events (room_id, at);
CREATE INDEX IF NOT EXISTS ops_events_device ON ops_events (device_id, at);

CREATE TABLE IF NOT EXISTS room_overrides (
    room_id     text PRIMARY KEY,
    number      text NOT NULL,
    desk_number text NOT NULL,
    handles     jsonb NOT NULL,
    neighbours  jsonb NOT NULL,
    updated_at  timestamptz NOT NULL
);
