-- Receipts queued per address and clock hour (see migrations/sqlite/0004_receipt_rate.sql).
CREATE TABLE receipt_rate (
    address TEXT NOT NULL,
    hour    BIGINT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (address, hour)
);
