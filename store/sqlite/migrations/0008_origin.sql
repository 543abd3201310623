-- Who asked for a verification: the officer app, or a member of the public
-- calling a room's published number. A public caller's number is kept only
-- masked (its last 3 digits) and as a keyed hash, never in clear. Rows from
-- before origins are officers' requests.
ALTER TABLE verifications ADD COLUMN origin TEXT NOT NULL DEFAULT 'officer';
ALTER TABLE verifications ADD COLUMN caller TEXT NOT NULL DEFAULT '';
ALTER TABLE verifications ADD COLUMN caller_hash TEXT NOT NULL DEFAULT '';
