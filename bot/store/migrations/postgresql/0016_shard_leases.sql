-- SQLite's 0016: which process runs which shard, until when (runtime state).
CREATE TABLE shard_leases (
    shard_id    BIGINT PRIMARY KEY,
    shard_count BIGINT NOT NULL,
    owner       TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
