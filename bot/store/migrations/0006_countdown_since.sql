-- When each server's countdown started: the moment it picked its channel (/announce channel). A
-- milestone that passed before then is never posted to it; it gets the next one instead.
-- NULL: not known (settings saved without picking a channel through /announce): every milestone counts.
--
-- A server subscribed before this migration gets the time its settings row was last saved: the nearest
-- record of when it picked its channel, never earlier than that pick (so no milestone that passed before
-- the server subscribed becomes postable), and never later than this upgrade (so a milestone that fell
-- due while the bot was down for it still posts, as it would have without the upgrade).

ALTER TABLE guild_settings ADD COLUMN countdown_since TEXT;

UPDATE guild_settings SET countdown_since = updated_at WHERE channel_id IS NOT NULL;
