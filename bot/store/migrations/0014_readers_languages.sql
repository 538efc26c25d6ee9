-- The language a member reads in, kept for what the bot tells them later, outside any interaction: the
-- Discord locale they used when they asked for a reminder (its DMs are written in it) and when they made
-- a suggestion (the DM with the moderators' decision is). NULL: English (and everything stored before).

ALTER TABLE reminders ADD COLUMN locale TEXT;
ALTER TABLE suggestions ADD COLUMN locale TEXT;
