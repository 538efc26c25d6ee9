-- Shard ownership as a lease (issue 15): a process runs a shard only while it holds the shard's lease,
-- renews it every few seconds, and loses it to another process (a standby on another host) once it has
-- not renewed for the lease's length. Runtime state, never exported.
CREATE TABLE shard_leases (
    shard_id    INTEGER PRIMARY KEY,
    shard_count INTEGER NOT NULL,
    owner       TEXT NOT NULL,     -- the process's name in the register (host:pid:id)
    expires_at  TEXT NOT NULL      -- UTC, ISO 8601 to the second
);
