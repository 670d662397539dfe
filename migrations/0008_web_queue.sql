-- The web console's queue asks which orders have a message nobody has answered yet (the
-- "Kræver handling" filter): the correspondence events are found by their action here, not by
-- reading every event. The queue's sort by planned time reads the second index.
CREATE INDEX events_action_order ON events (action, order_id);
CREATE INDEX orders_planned ON orders (planned_at);
