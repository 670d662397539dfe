-- The web console's /post: the mails that made no order or were never answered are found by
-- their events (the "ignored" event, the order a mail landed on), so events are looked up by
-- their mail; and the list is read newest first from an index that holds every column it
-- shows, so neither the list nor its counts read a stored mail's bytes (the raw column comes
-- before disposition and note in the table: reading those from the table walks the whole mail).
CREATE INDEX events_inbound ON events (inbound_id);
CREATE INDEX inbound_mail_received ON inbound_mail (internal_date, disposition, sender, subject, note);
