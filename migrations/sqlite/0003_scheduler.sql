-- The scheduler's periodic jobs (digest, billing): when each last ran. An instance runs a job
-- only after it has moved `last_run` from the value it read (compare-and-set), so with several
-- instances on one database each run happens once; the claim is committed together with the
-- job's own writes, so a run killed midway is not counted and happens at the next start.
CREATE TABLE jobs (
    name     TEXT PRIMARY KEY,
    last_run TEXT NOT NULL                   -- RFC 3339 UTC, as every time in this schema
);
