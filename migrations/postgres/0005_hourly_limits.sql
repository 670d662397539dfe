-- The hourly limits (see migrations/sqlite/0005_hourly_limits.sql).
CREATE TABLE held_mail_orders (
    address  TEXT NOT NULL,
    hour     BIGINT NOT NULL,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    PRIMARY KEY (address, hour)
);

CREATE TABLE review_summaries (
    hour BIGINT PRIMARY KEY,
    n    BIGINT NOT NULL,
    refs TEXT NOT NULL
);
