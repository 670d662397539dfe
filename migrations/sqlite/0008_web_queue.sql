-- The web console's queue (src/store/queue.rs).
-- Which orders have a message nobody has answered yet ("Kræver handling"): the correspondence
-- events are found by their action, not by reading every event.
CREATE INDEX events_action_order ON events (action, order_id);
-- The queue's sort (orders still to be done before executed and withdrawn ones; then planned
-- time, orders without one after, then the newest), exactly as its ORDER BY says it, so a
-- page of the whole queue is read in order instead of sorted.
CREATE INDEX orders_queue ON orders (state IN ('executed', 'withdrawn'), planned_at IS NULL, planned_at, created_at DESC, id DESC);
