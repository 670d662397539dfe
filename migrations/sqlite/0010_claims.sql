-- Several instances on one database. An instance claims a mail before judging it: the
-- attempt row names the instance (`holder`) and until when the claim holds (`lease_until`,
-- RFC 3339 UTC); another instance that meets the mail leaves it to the holder, and takes it
-- over once the lease has run out (its holder died). The holder renews nothing: a lease is
-- longer than judging one mail takes.
ALTER TABLE intake_attempts ADD COLUMN holder TEXT;
ALTER TABLE intake_attempts ADD COLUMN lease_until TEXT;
-- An outbox row taken by an instance for sending, until `claimed_until`: no other instance
-- sends it meanwhile; a claim whose holder died runs out and the mail is sent by another (with
-- the same Message-ID).
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until TEXT;
