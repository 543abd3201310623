-- A credential's console sessions end together (a sign-out): a session
-- carries the count it was issued at and is refused once sessions_ended is
-- higher. 0 for a credential whose sessions were never ended.
ALTER TABLE tokens ADD COLUMN sessions_ended INTEGER NOT NULL DEFAULT 0;
