-- Receipts queued per address and clock hour, for the per-address rate limit: two rows read
-- per receipt instead of a scan of the whole outbox. Starts empty: receipts queued before
-- this migration do not count.
CREATE TABLE receipt_rate (
    address TEXT NOT NULL,      -- lower case
    hour    INTEGER NOT NULL,   -- Unix time / 3600
    n       INTEGER NOT NULL,
    PRIMARY KEY (address, hour)
);
