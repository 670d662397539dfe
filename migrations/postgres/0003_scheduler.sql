-- The scheduler's periodic jobs (see migrations/sqlite/0003_scheduler.sql).
CREATE TABLE jobs (
    name     TEXT PRIMARY KEY,
    last_run TEXT NOT NULL
);
