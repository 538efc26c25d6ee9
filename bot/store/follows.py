"""Each server's followers' role per entry: the role the bot made for a title in that server."""

from __future__ import annotations

from bot.store.database import Database, entry_id


class FollowerRoles:
    """`store.follower_roles`: (server, entry) -> the role the bot gives that title's followers there."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, guild_id: int, slug: str) -> int | None:
        row = await self._db.fetchone(
            "SELECT f.role_id FROM follower_roles f JOIN entries e ON e.id = f.entry_id "
            "WHERE f.guild_id = ? AND e.slug = ?",
            (guild_id, slug),
        )
        return int(row[0]) if row else None

    async def in_guild(self, guild_id: int) -> dict[str, int]:
        """Every entry's followers' role in the server, by slug, in the entries' order."""
        rows = await self._db.fetchall(
            "SELECT e.slug, f.role_id FROM follower_roles f JOIN entries e ON e.id = f.entry_id "
            "WHERE f.guild_id = ? AND e.removed_at IS NULL ORDER BY e.position, e.id",
            (guild_id,),
        )
        return {row[0]: int(row[1]) for row in rows}

    async def save(self, guild_id: int, slug: str, role_id: int) -> None:
        """Remember the role made for `slug` in the server (a re-made role replaces the deleted one)."""
        async with self._db.transaction() as tx:
            entry = await entry_id(tx, slug)
            await tx.execute(
                "INSERT INTO follower_roles (guild_id, entry_id, role_id, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (guild_id, entry_id) DO UPDATE SET role_id = excluded.role_id, "
                "created_at = excluded.created_at",
                (guild_id, entry, role_id, tx.now()),
            )
