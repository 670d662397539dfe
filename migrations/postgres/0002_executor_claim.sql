-- The executor's claim on an order (see migrations/sqlite/0002_executor_claim.sql).
ALTER TABLE orders ADD COLUMN executing_at TEXT;
