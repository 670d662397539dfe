-- The web console's queue (see migrations/sqlite/0008_web_queue.sql).
CREATE INDEX events_action_order ON events (action, order_id);
CREATE INDEX orders_queue ON orders ((state IN ('executed', 'withdrawn')), (planned_at IS NULL), planned_at, created_at DESC, id DESC);
