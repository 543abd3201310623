-- A report (a provider's or device agent's word on a leg, or a messaging
-- service's on a message) is kept as it was made, as one JSON object.
ALTER TABLE events ADD COLUMN IF NOT EXISTS report JSONB;
