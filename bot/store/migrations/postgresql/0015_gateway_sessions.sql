-- SQLite's 0015: each shard's gateway session, kept for a RESUME at the next start (runtime state), and
-- the server's own language as Discord last sent it with an admin's /announce command.
CREATE TABLE gateway_sessions (
    shard_id    BIGINT PRIMARY KEY,
    shard_count BIGINT NOT NULL,
    session_id  TEXT NOT NULL,
    sequence    BIGINT NOT NULL,
    resume_url  TEXT NOT NULL,
    saved_at    TEXT NOT NULL
);

ALTER TABLE guild_settings ADD COLUMN locale TEXT;
