-- Forms from one sender beyond limits.orders_per_sender_per_hour are not made into orders:
-- the mails are kept and gathered on ONE review order per sender and clock hour, found here.
-- (The per-sender order count itself lives in receipt_rate under the key 'orders:<address>'.)
CREATE TABLE held_mail_orders (
    address  TEXT NOT NULL,      -- the sender, case-folded, without +tag
    hour     INTEGER NOT NULL,   -- Unix time / 3600
    order_id INTEGER NOT NULL REFERENCES orders (id),
    PRIMARY KEY (address, hour)
);
