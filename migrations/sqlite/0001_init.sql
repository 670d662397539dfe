-- spdesk schema. Times are RFC 3339 strings in UTC.

-- Every mail taken from the mailbox, stored once with its raw bytes.
CREATE TABLE inbound_mail (
    id            INTEGER PRIMARY KEY,
    message_key   TEXT NOT NULL UNIQUE,      -- Message-ID, else sha256 of the bytes
    message_id    TEXT,
    mailbox       TEXT NOT NULL,
    uidvalidity   INTEGER,
    uid           INTEGER,
    internal_date TEXT NOT NULL,             -- when the Helpdesk's server accepted it
    stored_at     TEXT NOT NULL,
    sender        TEXT,
    subject       TEXT NOT NULL DEFAULT '',
    sha256        TEXT NOT NULL,
    raw           BLOB NOT NULL,
    disposition   TEXT NOT NULL,             -- order | correspondence | ignored | quarantined
    note          TEXT NOT NULL DEFAULT '',
    UNIQUE (mailbox, uidvalidity, uid)
);

-- Attempts per message, committed before processing, so a mail that kills the process is
-- quarantined after max_attempts instead of looping.
CREATE TABLE intake_attempts (
    message_key TEXT PRIMARY KEY,
    attempts    INTEGER NOT NULL,
    last_at     TEXT NOT NULL,
    last_error  TEXT NOT NULL DEFAULT ''
);

CREATE TABLE ref_counters (
    year INTEGER PRIMARY KEY,
    last INTEGER NOT NULL
);

CREATE TABLE orders (
    id              INTEGER PRIMARY KEY,
    ref             TEXT NOT NULL UNIQUE,    -- SP-YYYY-NNNNN
    state           TEXT NOT NULL,
    kind            TEXT,
    bestillings_id  TEXT,
    org_name        TEXT,
    org_cvr         TEXT,
    system_name     TEXT,
    requester       TEXT,                    -- the sender's address
    reply_to        TEXT,                    -- where receipts go
    contact_email   TEXT,
    thread_message_id TEXT,                  -- the first mail's Message-ID (for threading)
    thread_subject  TEXT NOT NULL DEFAULT '',
    planned_at      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    executed_at     TEXT,
    billed_at       TEXT,
    incident_at     TEXT
);
CREATE INDEX orders_bestillings_id ON orders (bestillings_id);
CREATE INDEX orders_state ON orders (state);

-- Every version of an order's form, with what was read and judged.
CREATE TABLE order_versions (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders (id),
    version     INTEGER NOT NULL,
    inbound_id  INTEGER NOT NULL REFERENCES inbound_mail (id),
    form_index  INTEGER NOT NULL,
    judgement   TEXT NOT NULL,               -- JSON: kind, source, fields, findings, decision
    decision    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (order_id, version),
    UNIQUE (inbound_id, form_index)
);

-- The audit trail: who, when, what, why.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER REFERENCES orders (id),
    inbound_id  INTEGER REFERENCES inbound_mail (id),
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_state  TEXT,
    to_state    TEXT,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_order ON events (order_id);

-- Mails to send, written in the same transaction as the change that causes them.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    order_id        INTEGER REFERENCES orders (id),
    kind            TEXT NOT NULL,
    message_id      TEXT NOT NULL UNIQUE,    -- deterministic: a resend is the same mail
    envelope_from   TEXT NOT NULL,
    recipients      TEXT NOT NULL,           -- JSON array
    raw             BLOB NOT NULL,
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    sent_at         TEXT,
    last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (sent_at, next_attempt_at);
