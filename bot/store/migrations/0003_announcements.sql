-- Announcements: each server's settings, the outbox of changes (written in the same transaction as
-- the change itself), update batches (one post per entry per settling window), and deliveries, which
-- are unique per (batch, server) and per (entry, milestone, premiere, server) so nothing posts twice.

CREATE TABLE guild_settings (
    guild_id   INTEGER PRIMARY KEY,
    channel_id INTEGER,                          -- NULL: announcements off
    milestones TEXT NOT NULL DEFAULT '30,14,7,3,1,0',
    role_id    INTEGER,                          -- the opt-in role to ping, if any
    updates    INTEGER NOT NULL DEFAULT 1,
    events     INTEGER NOT NULL DEFAULT 0,
    failures   INTEGER NOT NULL DEFAULT 0,       -- consecutive failed posts
    problem    TEXT NOT NULL DEFAULT '',         -- the last failure, for /announce status
    paused_at  TEXT,                             -- set after repeated failures; /announce channel resumes
    updated_at TEXT NOT NULL
);
CREATE INDEX guild_settings_subscribed ON guild_settings (channel_id) WHERE channel_id IS NOT NULL;

CREATE TABLE change_events (
    id          INTEGER PRIMARY KEY,
    entry_id    INTEGER NOT NULL REFERENCES entries (id),
    revision_id INTEGER NOT NULL REFERENCES revisions (id),
    created_at  TEXT NOT NULL,
    batch_id    INTEGER REFERENCES update_batches (id)
);
CREATE INDEX change_events_unbatched ON change_events (entry_id, id) WHERE batch_id IS NULL;

CREATE TABLE update_batches (
    id         INTEGER PRIMARY KEY,
    entry_id   INTEGER NOT NULL REFERENCES entries (id),
    created_at TEXT NOT NULL,
    changes    TEXT NOT NULL                     -- JSON: what changed, old -> new, with sources
);

CREATE TABLE deliveries (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('update', 'milestone')),
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    batch_id   INTEGER REFERENCES update_batches (id),
    entry_id   INTEGER REFERENCES entries (id),
    milestone  INTEGER,                          -- days before the premiere; 0 is the premiere day
    premiere   TEXT,                             -- the premiere it counts down to
    due_at     TEXT NOT NULL,
    nonce      TEXT NOT NULL UNIQUE,             -- the same on every retry, so Discord posts it once
    status     TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    error      TEXT NOT NULL DEFAULT '',
    message_id INTEGER,
    sent_at    TEXT,
    UNIQUE (batch_id, guild_id),
    UNIQUE (entry_id, milestone, premiere, guild_id)
);
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE status = 'pending';

CREATE TABLE guild_events (
    guild_id INTEGER NOT NULL,
    entry_id INTEGER NOT NULL REFERENCES entries (id),
    event_id INTEGER NOT NULL,
    premiere TEXT NOT NULL,
    PRIMARY KEY (guild_id, entry_id)
);
