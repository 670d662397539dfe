-- A different mail reusing a Message-ID is found by this index (see
-- migrations/sqlite/0006_content_identity_and_failed_receipts.sql).
CREATE INDEX inbound_mail_message_id ON inbound_mail USING hash (message_id);

ALTER TABLE outbox ADD COLUMN failed_at TEXT;
