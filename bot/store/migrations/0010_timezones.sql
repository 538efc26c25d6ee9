-- When each server's countdowns go out: `post_hour`:00 (0-23) on a milestone's day in its IANA time zone
-- `timezone` (/announce timezone, /announce time). Every server, those set up before this migration too,
-- starts at 09:00 UTC: milestones used to go out at the premiere's own time (00:00 UTC for a date alone),
-- and now go out in the morning where the server is, once it says where that is.

ALTER TABLE guild_settings ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE guild_settings ADD COLUMN post_hour INTEGER NOT NULL DEFAULT 9 CHECK (post_hour BETWEEN 0 AND 23);
