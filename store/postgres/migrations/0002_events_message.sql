-- The notes that record a message sent (a join link by WhatsApp) are found
-- by the message's ID when the messaging service reports its delivery.
CREATE INDEX events_message ON events ((data ->> 'message')) WHERE type = 'note';
