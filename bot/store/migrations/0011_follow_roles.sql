-- Follow a title (issue #13): each server's per-title followers' role, which the bot creates on the
-- first follow and gives to and takes from members; and whether the server uses them at all.
--
-- Who follows is not stored here: a member follows a title in a server while they hold its role, as
-- Discord says in every interaction, so an admin who takes the role away ends the follow too.

ALTER TABLE guild_settings ADD COLUMN follow_roles INTEGER NOT NULL DEFAULT 1;  -- /announce follow-roles

CREATE TABLE follower_roles (
    guild_id   INTEGER NOT NULL,
    entry_id   INTEGER NOT NULL REFERENCES entries (id),
    role_id    INTEGER NOT NULL,                -- made by the bot; re-made if someone deleted it
    created_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, entry_id)
);
