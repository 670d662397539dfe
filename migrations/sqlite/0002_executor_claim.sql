-- The executor's claim on an order: set (in its own commit) before the command runs, so that
-- neither a second instance nor a restart runs the command twice. A claim older than the
-- order's last change (updated_at) is void; a live claim that outlives the time limit belongs to
-- an executor that was interrupted, and the order fails instead of running again.
ALTER TABLE orders ADD COLUMN executing_at TEXT;
