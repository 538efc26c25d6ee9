-- The watcher of public sources. What it last proposed for each fact from each source, so the same
-- difference is proposed once (a rejected one comes back only if the source's value changes again),
-- and how each source's rounds went, for moderators and for its backoff.

CREATE TABLE watch_proposals (
    entry_id      INTEGER NOT NULL REFERENCES entries (id),
    field         TEXT NOT NULL,
    key           TEXT NOT NULL,
    source        TEXT NOT NULL,               -- "TVmaze", "Wikidata"
    value         TEXT NOT NULL,               -- the source's value that was proposed
    suggestion_id INTEGER NOT NULL REFERENCES suggestions (id),
    proposed_at   TEXT NOT NULL,
    PRIMARY KEY (entry_id, field, key, source)
);

CREATE TABLE watch_sources (
    source      TEXT PRIMARY KEY,
    last_ok_at  TEXT,                          -- the last round in which every entry was read
    last_run_at TEXT,
    error       TEXT NOT NULL DEFAULT '',      -- what went wrong in the last round, '' if nothing
    failures    INTEGER NOT NULL DEFAULT 0,    -- rounds in a row that went wrong
    next_at     TEXT NOT NULL                  -- when its next round is due
);
