-- Forms from one sender beyond limits.orders_per_sender_per_hour are not made into orders:
-- the mails are kept and gathered on ONE review order per sender and clock hour, found here.
-- (The per-sender order count itself lives in receipt_rate under the key 'orders:<address>'.)
CREATE TABLE held_mail_orders (
    address  TEXT NOT NULL,      -- the sender, case-folded, without +tag
    hour     INTEGER NOT NULL,   -- Unix time / 3600
    order_id INTEGER NOT NULL REFERENCES orders (id),
    PRIMARY KEY (address, hour)
);

-- Review mails beyond limits.review_mails_per_hour are gathered into one summary mail per
-- clock hour (sent at its start): how many orders it covers and the first of their references.
CREATE TABLE review_summaries (
    hour INTEGER PRIMARY KEY,    -- Unix time / 3600 of the hour it is sent in
    n    INTEGER NOT NULL,
    refs TEXT NOT NULL           -- JSON array, at most review_summary::LISTED references
);
