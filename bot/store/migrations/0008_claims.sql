-- Operator-grade delivery: a process claims a delivery (a lease: its name and an expiry, taken in one
-- UPDATE) before it sends it, so two processes on the same shards never send the same post. A claim is
-- cleared when the delivery is marked, released on a graceful stop, and free to take once it expires
-- (a killed process) or once its process is known to be gone.
--
-- `processes`: every running bot process, with the shards it runs and a heartbeat, so that a second
-- process on the same shards is noticed and named, and claims of a dead process are taken over.

ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN claim_expires TEXT;
CREATE INDEX deliveries_claimed ON deliveries (claimed_by) WHERE claimed_by IS NOT NULL;

CREATE TABLE processes (
    name       TEXT PRIMARY KEY,               -- host:pid:random, unique per start
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    shards     TEXT NOT NULL,                  -- "all", or "count:id,id,..."
    started_at TEXT NOT NULL,
    seen_at    TEXT NOT NULL                   -- its last heartbeat
);
