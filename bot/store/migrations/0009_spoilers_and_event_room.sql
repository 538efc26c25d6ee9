-- Spoilers: a fact (a plot, or a note on an episode or the ending) can be marked as a spoiler; answers
-- and posts hide it behind Discord's spoiler markers until `spoiler_days` after the premiere, a number
-- each server chooses (/announce spoilers; 0 shows everything once the premiere has begun). Facts stored
-- before this were not spoilers; the canon marks its own on the next load.
ALTER TABLE facts ADD COLUMN spoiler INTEGER NOT NULL DEFAULT 0 CHECK (spoiler IN (0, 1));
ALTER TABLE guild_settings ADD COLUMN spoiler_days INTEGER NOT NULL DEFAULT 14
    CHECK (spoiler_days BETWEEN 0 AND 365);

-- Discord allows 100 uncompleted scheduled events per server, whoever made them. What the bot last
-- counted in each server that has premiere events on (the events others made, and when it counted, so
-- it asks Discord again only now and then), and how many premieres that cap holds back, for
-- /announce status.
CREATE TABLE guild_event_room (
    guild_id   INTEGER PRIMARY KEY,
    others     INTEGER NOT NULL,              -- uncompleted events in the server that are not the bot's
    counted_at TEXT NOT NULL,                 -- when the bot last listed the server's events
    held_back  INTEGER NOT NULL DEFAULT 0     -- premieres without an event for want of room
);
