-- Curation by moderators: which revision last set each fact (for optimistic edits), entries that
-- can be removed without losing their history, and members' suggestions awaiting review.

ALTER TABLE facts ADD COLUMN revision_id INTEGER REFERENCES revisions (id);
UPDATE facts SET revision_id = (
    SELECT max(r.id) FROM revisions r
    WHERE r.entry_id = facts.entry_id AND r.field = facts.field AND r.key = facts.key
);

-- A removed entry keeps its row so that its revisions still point somewhere; its facts are removed
-- (each as a revision) before it is.
ALTER TABLE entries ADD COLUMN removed_at TEXT;

CREATE TABLE suggestions (
    id                INTEGER PRIMARY KEY,
    entry_id          INTEGER NOT NULL REFERENCES entries (id),
    field             TEXT NOT NULL,
    key               TEXT NOT NULL,
    value             TEXT NOT NULL CHECK (value <> ''),
    source            TEXT NOT NULL CHECK (source <> ''),
    source_date       TEXT NOT NULL CHECK (source_date <> ''),
    user_id           INTEGER NOT NULL,
    user_name         TEXT NOT NULL,
    guild_id          INTEGER,
    created_at        TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by        TEXT,
    decided_at        TEXT,
    reason            TEXT NOT NULL DEFAULT '',
    revision_id       INTEGER REFERENCES revisions (id),
    review_channel_id INTEGER,
    review_message_id INTEGER
);
CREATE INDEX suggestions_by_user ON suggestions (user_id, created_at);
