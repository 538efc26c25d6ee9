-- Entries, facts with provenance, the append-only revision history, full-text search over facts,
-- bot metadata, and the snapshot of the shipped canon that makes its loading idempotent.

CREATE TABLE entries (
    id          INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE CHECK (length(slug) BETWEEN 1 AND 32),
    title       TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 256),
    description TEXT NOT NULL DEFAULT '',
    aliases     TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
    parent_id   INTEGER REFERENCES entries (id),
    position    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE facts (
    id          INTEGER PRIMARY KEY,
    entry_id    INTEGER NOT NULL REFERENCES entries (id),
    field       TEXT NOT NULL,
    key         TEXT NOT NULL DEFAULT '',     -- tells apart the items of a multi-valued field
    value       TEXT NOT NULL CHECK (value <> ''),
    note        TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL CHECK (source <> ''),
    source_date TEXT NOT NULL CHECK (source_date <> ''),
    added_by    TEXT NOT NULL,
    added_at    TEXT NOT NULL,
    position    INTEGER NOT NULL DEFAULT 0,
    -- The index behind this constraint serves every per-entry query (entry_id is its prefix).
    UNIQUE (entry_id, field, key)
);

CREATE TABLE revisions (
    id        INTEGER PRIMARY KEY,
    entry_id  INTEGER NOT NULL REFERENCES entries (id),
    field     TEXT NOT NULL,
    key       TEXT NOT NULL,
    action    TEXT NOT NULL CHECK (action IN ('add', 'edit', 'remove')),
    old       TEXT,                            -- JSON of the fact before, NULL for an add
    new       TEXT,                            -- JSON of the fact after, NULL for a removal
    who       TEXT NOT NULL,
    at        TEXT NOT NULL,
    reason    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX revisions_by_fact ON revisions (entry_id, field, key, id);

CREATE TRIGGER revisions_are_append_only_update BEFORE UPDATE ON revisions
BEGIN
    SELECT RAISE(ABORT, 'revisions are append-only');
END;
CREATE TRIGGER revisions_are_append_only_delete BEFORE DELETE ON revisions
BEGIN
    SELECT RAISE(ABORT, 'revisions are append-only');
END;

CREATE VIRTUAL TABLE facts_fts USING fts5 (
    value, note,
    content = 'facts', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER facts_fts_insert AFTER INSERT ON facts
BEGIN
    INSERT INTO facts_fts (rowid, value, note) VALUES (new.id, new.value, new.note);
END;
CREATE TRIGGER facts_fts_delete AFTER DELETE ON facts
BEGIN
    INSERT INTO facts_fts (facts_fts, rowid, value, note) VALUES ('delete', old.id, old.value, old.note);
END;
CREATE TRIGGER facts_fts_update AFTER UPDATE OF value, note ON facts
BEGIN
    INSERT INTO facts_fts (facts_fts, rowid, value, note) VALUES ('delete', old.id, old.value, old.note);
    INSERT INTO facts_fts (rowid, value, note) VALUES (new.id, new.value, new.note);
END;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- What each canon file said when it was last loaded: a file whose digest is unchanged is skipped,
-- and a changed one is compared fact by fact with this snapshot, so moderators' edits to facts the
-- file did not change survive a restart.
CREATE TABLE canon_files (
    name   TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    entry  TEXT NOT NULL                       -- JSON of the entry's own attributes
);
CREATE TABLE canon_facts (
    file  TEXT NOT NULL REFERENCES canon_files (name),
    field TEXT NOT NULL,
    key   TEXT NOT NULL,
    fact  TEXT NOT NULL,                       -- JSON of the fact as the file gave it
    PRIMARY KEY (file, field, key)
);
