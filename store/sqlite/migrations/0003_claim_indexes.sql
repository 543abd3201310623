-- Fewer index pages written per claim: a claim and its release wrote 12
-- pages to the WAL, now 9.
--
-- devices_room no longer holds last_used, which every claim changes: a
-- room's few devices are sorted as they are read.
DROP INDEX devices_room;
CREATE INDEX devices_room ON devices (room_id, id);

-- The open claims are few (one per device at most): the sweep of expired
-- ones reads claims_open_holder's entries and needs no index on expiry.
DROP INDEX claims_open_expiry;
