-- The web console's /post (see migrations/sqlite/0009_post.sql). PostgreSQL keeps a large
-- mail's bytes out of the row (TOAST), so the list reads the table without a covering index.
CREATE INDEX events_inbound ON events (inbound_id);
CREATE INDEX inbound_mail_received ON inbound_mail (internal_date, disposition);
