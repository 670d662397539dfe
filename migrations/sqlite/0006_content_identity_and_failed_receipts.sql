-- A mail is keyed by its content identity (Message-ID and a SHA-256 over the message without
-- the trace headers MTAs add); rows stored before keep their keys. A different mail reusing a
-- Message-ID is found by this index and noted on both.
CREATE INDEX inbound_mail_message_id ON inbound_mail (message_id);

-- A queued mail that can never be sent (a permanent refusal, or temporary failures for longer
-- than limits.outbox_max_age) ends failed: never tried again, shown in the order's history
-- and the digest.
ALTER TABLE outbox ADD COLUMN failed_at TEXT;
