-- Whether the handset was on a charger at its last heartbeat: a battery
-- under the floor counts against it only when it is not.
ALTER TABLE devices ADD COLUMN charging boolean NOT NULL DEFAULT false;
