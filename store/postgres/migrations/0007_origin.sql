-- Who asked for a verification: the officer app, or a member of the public
-- calling a room's published number. A public caller's number is kept only
-- masked (its last 3 digits) and as a keyed hash, never in clear. Rows from
-- before origins are officers' requests.
ALTER TABLE verifications ADD COLUMN IF NOT EXISTS origin text NOT NULL DEFAULT 'officer';
ALTER TABLE verifications ADD COLUMN IF NOT EXISTS caller text NOT NULL DEFAULT '';
ALTER TABLE verifications ADD COLUMN IF NOT EXISTS caller_hash text NOT NULL DEFAULT '';
