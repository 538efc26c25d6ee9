-- How sure each fact is: `confirmed` (the network, the studio or the people themselves said it),
-- `reported` (press citing sources) or `rumour`. Facts stored before this were all confirmed ones;
-- members' suggestions are press or hearsay until a moderator says otherwise, so they are `reported`.
-- Entries name their ids at public sources (TVmaze, Wikidata), which the watcher reads.

ALTER TABLE facts ADD COLUMN confidence TEXT NOT NULL DEFAULT 'confirmed'
    CHECK (confidence IN ('confirmed', 'reported', 'rumour'));

ALTER TABLE suggestions ADD COLUMN confidence TEXT NOT NULL DEFAULT 'reported'
    CHECK (confidence IN ('confirmed', 'reported', 'rumour'));
ALTER TABLE suggestions ADD COLUMN note TEXT NOT NULL DEFAULT '';

ALTER TABLE entries ADD COLUMN tvmaze_id INTEGER;
ALTER TABLE entries ADD COLUMN tvmaze_season INTEGER;
ALTER TABLE entries ADD COLUMN wikidata_id TEXT;
