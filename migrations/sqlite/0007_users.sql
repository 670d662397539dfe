-- The web console's people, their sessions and their login attempts.

-- A person who may log in to the web console. `name` is what the order history records, as
-- typed; `name_key` is its lower-case form (Unicode, so "Åse" and "åse" are one person), the
-- key every look-up uses. `password_hash` is a PHC string (argon2id with its salt and
-- parameters). A disabled person keeps the row, so the history's names still resolve.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    name_key      TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash TEXT NOT NULL,
    disabled_at   TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- A logged-in browser. The cookie holds a random token; only its SHA-256 (hex) is stored, so
-- a copy of the database opens no session. `csrf_token` is the session's token for forms.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    last_seen  TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

-- Login attempts, for throttling per user name and per address. `name_key` as in users
-- (whether or not such a user exists); `address` the client's IP address.
CREATE TABLE login_attempts (
    id        INTEGER PRIMARY KEY,
    name_key  TEXT NOT NULL,
    address   TEXT NOT NULL,
    at        TEXT NOT NULL,
    succeeded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX login_attempts_name ON login_attempts(name_key, at);
CREATE INDEX login_attempts_address ON login_attempts(address, at);
