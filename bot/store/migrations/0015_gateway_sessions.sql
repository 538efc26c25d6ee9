-- Restarts without an outage: each shard's gateway session as it last stood (saved every few seconds and
-- on a clean stop), so the next start RESUMEs it instead of IDENTIFYing, which Discord spaces 5 s apart.
-- Runtime state, never exported: a session belongs to one Discord connection and lasts minutes.
CREATE TABLE gateway_sessions (
    shard_id    INTEGER PRIMARY KEY,
    shard_count INTEGER NOT NULL,  -- a session is resumable only under the same shard count
    session_id  TEXT NOT NULL,
    sequence    INTEGER NOT NULL,  -- the last dispatch the process handled
    resume_url  TEXT NOT NULL,     -- READY's resume_gateway_url
    saved_at    TEXT NOT NULL
);

-- The server's own language as Discord last sent it with an admin's /announce command (the bot keeps no
-- copy of its servers); posts are in it unless /announce language chose another. NULL: not known yet.
ALTER TABLE guild_settings ADD COLUMN locale TEXT;
