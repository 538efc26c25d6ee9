"""Moderators' commands in the home server(s): /fact add, edit, remove, history, revert and /entry add, edit, remove."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import date

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import AnswerError, entry_answer, resolve_entry
from bot.client import CitadelBot, editor_check, reply_ephemeral, who
from bot.curation import (
    InputError,
    read_aliases,
    read_description,
    read_fact,
    read_parent,
    read_slug,
    read_source,
    read_title,
    read_value,
    require_field,
)
from bot.facts import FIELDS, Entry, EntryIndex, Fact, fact_key, normalize, one_line
from bot.render import Card, cut, source_label, to_embed
from bot.store import ENTRY_FIELD, Revision, StaleEdit, StoreError
from cogs.citadel import Citadel, field_choices

log = logging.getLogger(__name__)

HISTORY_PAGE = 5
MODAL_VALUE_LIMIT = 4000  # Discord's limit for a text input
Action = Callable[[], Awaitable[None]]


async def guarded(interaction: discord.Interaction, action: Action) -> None:
    """Run a moderator action; what the user typed or the store refused becomes one ephemeral line."""
    try:
        await action()
    except StaleEdit as exc:
        now = f" It now says “{cut(exc.current.value, 300)}”." if exc.current else ""
        await reply_ephemeral(
            interaction, f"{exc}{now} Nothing was changed; run the command again to edit the new value."
        )
    except (InputError, StoreError, AnswerError) as exc:
        await reply_ephemeral(interaction, f"{exc} Nothing was changed.")


class FactModal(discord.ui.Modal):
    """For values too long for a slash option, and for editing with the current value in front of you.

    `expected_revision` is the revision the moderator saw: if someone else saves first, this one
    is refused instead of silently overwriting theirs."""

    def __init__(
        self,
        cog: Curation,
        *,
        slug: str,
        field: str,
        key: str | None,
        fact: Fact | None,
        source: str = "",
        source_date: str = "",
    ) -> None:
        spec = FIELDS[field]
        verb = "Edit" if fact else "Add"
        super().__init__(title=cut(f"{verb} {spec.label}", 45), timeout=900)
        self.cog, self.slug, self.field, self.key = cog, slug, field, key
        self.expected_revision = fact.revision_id if fact else None
        self.value: discord.ui.TextInput[FactModal] = discord.ui.TextInput(
            label=cut(spec.label, 45),
            custom_id="value",
            style=discord.TextStyle.paragraph,
            default=fact.value if fact else None,
            max_length=min(spec.limit, MODAL_VALUE_LIMIT),
        )
        self.source: discord.ui.TextInput[FactModal] = discord.ui.TextInput(
            label="Source: a link or the publication",
            custom_id="source",
            default=(fact.source if fact else source) or None,
            max_length=300,
        )
        self.source_date: discord.ui.TextInput[FactModal] = discord.ui.TextInput(
            label="Source date (empty: today)",
            custom_id="source_date",
            default=(fact.source_date if fact else source_date) or None,
            required=False,
            max_length=40,
        )
        for item in (self.value, self.source, self.source_date):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        async def save() -> None:
            editor_check(interaction)  # permissions may have changed while the modal was open
            fact = read_fact(
                self.field, self.value.value, self.source.value, self.source_date.value, self.cog.today()
            )
            if self.key is None:
                await self.cog.add(interaction, self.slug, fact)
            else:
                await self.cog.edit(interaction, self.slug, self.key, fact, self.expected_revision)

        await guarded(interaction, save)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        if isinstance(error, app_commands.CheckFailure):
            await reply_ephemeral(interaction, str(error))
            return
        log.error("fact modal failed", exc_info=error)
        await reply_ephemeral(
            interaction, "Something went wrong on our side and it has been logged. Nothing was changed."
        )


class OwnedView(discord.ui.View):
    """Buttons only the moderator who asked may press (and only while still a moderator)."""

    owner_id: int

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        editor_check(interaction)
        if interaction.user.id != self.owner_id:
            await reply_ephemeral(
                interaction, "These buttons belong to whoever asked; run the command yourself."
            )
            return False
        return True

    async def on_error(
        self,
        interaction: discord.Interaction,
        error: Exception,
        item: discord.ui.Item,  # type: ignore[type-arg]
    ) -> None:
        refused = isinstance(error, app_commands.CheckFailure)
        if not refused:
            log.error("a moderator's button failed", exc_info=error)
        await reply_ephemeral(interaction, str(error) if refused else "That didn't work; try again.")


class HistoryView(OwnedView):
    """Pages of revisions, newest first, turned with buttons by the moderator who asked."""

    def __init__(self, title: str, revisions: Sequence[Revision], owner_id: int) -> None:
        super().__init__(timeout=600)
        self.title, self.owner_id, self.page = title, owner_id, 0
        self.revisions = list(reversed(revisions))
        self.pages = max(1, -(-len(self.revisions) // HISTORY_PAGE))
        self._sync_buttons()

    def embed(self) -> discord.Embed:
        shown = self.revisions[self.page * HISTORY_PAGE : (self.page + 1) * HISTORY_PAGE]
        fields = tuple((f"#{r.id} · {r.action} · {describe_field(r)}", describe_revision(r)) for r in shown)
        card = Card(
            cut(self.title, 200), f"Page {self.page + 1} of {self.pages} · {len(self.revisions)} revisions"
        )
        embed = to_embed(card)
        for name, value in fields:
            embed.add_field(name=cut(name, 256), value=cut(value, 1024), inline=False)
        return embed

    def _sync_buttons(self) -> None:
        self.newer.disabled = self.page == 0
        self.older.disabled = self.page >= self.pages - 1

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        self.page = min(max(self.page + step, 0), self.pages - 1)
        self._sync_buttons()
        await interaction.response.edit_message(embed=self.embed(), view=self)

    @discord.ui.button(label="◀ Newer", style=discord.ButtonStyle.secondary)
    async def newer(self, interaction: discord.Interaction, button: discord.ui.Button[HistoryView]) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Older ▶", style=discord.ButtonStyle.secondary)
    async def older(self, interaction: discord.Interaction, button: discord.ui.Button[HistoryView]) -> None:
        await self._turn(interaction, 1)


class ConfirmRemoval(OwnedView):
    def __init__(self, cog: Curation, slug: str, owner_id: int) -> None:
        super().__init__(timeout=120)
        self.cog, self.slug, self.owner_id = cog, slug, owner_id

    @discord.ui.button(label="Remove the entry and its facts", style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmRemoval]
    ) -> None:
        async def remove() -> None:
            revision = await self.cog.bot.store.retire_entry(self.slug, who(interaction.user), force=True)
            await self.cog.entries_changed()
            self.stop()
            await interaction.response.edit_message(
                content=f"Revision #{revision}: removed the entry “{self.slug}” and its facts. "
                f"`/fact revert revision:{revision}` brings the entry back.",
                view=None,
            )

        await guarded(interaction, remove)

    @discord.ui.button(label="Keep it", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmRemoval]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(content="Nothing was removed.", view=None)


def describe_field(revision: Revision) -> str:
    if revision.field == ENTRY_FIELD:
        return "the entry itself"
    label = FIELDS[revision.field].label if revision.field in FIELDS else revision.field
    return f"{label} ({revision.key})" if revision.key else label


def describe_revision(revision: Revision) -> str:
    def value(content: dict | None) -> str:  # type: ignore[type-arg]
        if content is None:
            return "—"
        text = content.get("value") or content.get("title") or ""
        return f"“{cut(str(text), 200)}”"

    lines = [f"by {revision.who} at {revision.at.replace('T', ' ').replace('+00:00', ' UTC')}"]
    lines.append(f"{value(revision.old)} → {value(revision.new)}")
    latest = revision.new or revision.old or {}
    if latest.get("source"):
        lines.append(f"source: {source_label(latest['source'])}, {latest.get('source_date', '')}")
    if revision.reason:
        lines.append(f"reason: {revision.reason}")
    return discord.utils.escape_mentions("\n".join(lines))


class EditorGroup(app_commands.Group):
    """A command group only moderators of a home server may use (checked on every call)."""

    def __init__(self, cog: Curation, **kwargs: object) -> None:
        super().__init__(
            default_permissions=discord.Permissions(manage_guild=True), guild_only=True, **kwargs
        )  # type: ignore[arg-type]
        self.cog = cog

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return editor_check(interaction)

    async def entry_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.cog.entry_choices(current)

    async def field_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return field_choices(current)

    async def item_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        namespace = interaction.namespace
        slug, field = getattr(namespace, "entry", None), getattr(namespace, "field", None)
        if not slug or field not in FIELDS:
            return []
        wanted = normalize(current)
        facts = [
            f
            for f in await self.cog.bot.store.facts_for(slug)
            if f.field == field and wanted in normalize(f.value)
        ]
        # The value is the revision the moderator picked: it names the item and what they saw of it.
        return [app_commands.Choice(name=cut(f.value, 100), value=str(f.revision_id)) for f in facts[:25]]


ENTRY_DESCRIBE = "The entry: a title, a country or a lead actor"
FIELD_DESCRIBE = "Which fact: premiere, cast, director, status…"
ITEM_DESCRIBE = "For fields with several items (cast, filmed in…): which one"


class FactGroup(EditorGroup):
    def __init__(self, cog: Curation) -> None:
        super().__init__(cog, name="fact", description="Add, correct, remove and revert facts (moderators)")

    @app_commands.command(name="add", description="Add a sourced fact to an entry")
    @app_commands.describe(
        entry=ENTRY_DESCRIBE,
        field=FIELD_DESCRIBE,
        value="The fact; leave empty to type a long one in a form",
        source="A link (https://…) or the publication",
        source_date="When the source said it: 2024-10-10, October 2024 or 2024 (default today)",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        entry: str,
        field: str,
        source: app_commands.Range[str, 1, 300],
        value: app_commands.Range[str, 1, 1000] | None = None,
        source_date: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        async def act() -> None:
            slug = self.cog.resolve(entry)
            if value is None:  # too long for a slash option: a form instead
                require_field(field)
                read_source(source)
                await interaction.response.send_modal(
                    FactModal(
                        self.cog,
                        slug=slug,
                        field=field,
                        key=None,
                        fact=None,
                        source=source,
                        source_date=source_date or "",
                    )
                )
                return
            await self.cog.add(
                interaction, slug, read_fact(field, value, source, source_date, self.cog.today())
            )

        await guarded(interaction, act)

    @app_commands.command(name="edit", description="Correct a fact (leave value empty to edit it in a form)")
    @app_commands.describe(
        entry=ENTRY_DESCRIBE,
        field=FIELD_DESCRIBE,
        item=ITEM_DESCRIBE,
        value="The corrected fact; leave empty to edit the current one in a form",
        source="A link or the publication (default: the current source)",
        source_date="When the source said it (default: the current source's date)",
    )
    async def edit(
        self,
        interaction: discord.Interaction,
        entry: str,
        field: str,
        item: app_commands.Range[str, 1, 100] | None = None,
        value: app_commands.Range[str, 1, 1000] | None = None,
        source: app_commands.Range[str, 1, 300] | None = None,
        source_date: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        async def act() -> None:
            slug = self.cog.resolve(entry)
            current = await self.cog.target(slug, field, item)
            if value is None:
                await interaction.response.send_modal(
                    FactModal(self.cog, slug=slug, field=field, key=current.key, fact=current)
                )
                return
            fact = read_fact(
                field, value, source or current.source, source_date or current.source_date, self.cog.today()
            )
            # Picked from autocomplete, `item` is the revision the moderator saw: edit only if it still is.
            seen = current.revision_id if item == str(current.revision_id) else None
            await self.cog.edit(interaction, slug, current.key, fact, seen)

        await guarded(interaction, act)

    @app_commands.command(
        name="remove", description="Remove a fact (kept in its history; revert brings it back)"
    )
    @app_commands.describe(
        entry=ENTRY_DESCRIBE, field=FIELD_DESCRIBE, item=ITEM_DESCRIBE, reason="Why, for the history"
    )
    async def remove(
        self,
        interaction: discord.Interaction,
        entry: str,
        field: str,
        item: app_commands.Range[str, 1, 100] | None = None,
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        async def act() -> None:
            slug = self.cog.resolve(entry)
            current = await self.cog.target(slug, field, item)
            revision = await self.cog.bot.store.delete_fact(
                slug, field, current.key, who(interaction.user), reason or ""
            )
            await self.cog.show_stored(
                interaction,
                slug,
                f"Revision #{revision}: removed {FIELDS[field].label} “{cut(current.value, 200)}”.",
            )

        await guarded(interaction, act)

    @app_commands.command(name="history", description="Who changed what, when, and from which source")
    @app_commands.describe(entry=ENTRY_DESCRIBE, field="Only this field (default: all, and the entry itself)")
    async def history(self, interaction: discord.Interaction, entry: str, field: str | None = None) -> None:
        async def act() -> None:
            slug = self.cog.resolve(entry)
            if field is not None:
                require_field(field)
            revisions = await self.cog.bot.store.revisions_for(slug, field)
            title = self.cog.title_of(slug) + (f" · {FIELDS[field].label}" if field else "")
            if not revisions:
                await reply_ephemeral(interaction, f"{title} has no history yet.")
                return
            view = HistoryView(f"History: {title}", revisions, interaction.user.id)
            await interaction.response.send_message(embed=view.embed(), view=view, ephemeral=True)

        await guarded(interaction, act)

    @app_commands.command(
        name="revert", description="Put back what was there before a revision (as a new revision)"
    )
    @app_commands.describe(revision="The revision number, from /fact history")
    async def revert(self, interaction: discord.Interaction, revision: app_commands.Range[int, 1]) -> None:
        async def act() -> None:
            target = await self.cog.bot.store.revision(revision)
            new = await self.cog.bot.store.revert(revision, who(interaction.user))
            if target and target.field == ENTRY_FIELD:
                await self.cog.entries_changed()
            slug = target.entry_slug if target else ""
            if not self.cog.has_entry(slug):
                await reply_ephemeral(
                    interaction,
                    f"Revision #{new}: reverted #{revision}; the entry “{slug}” is removed again.",
                )
                return
            await self.cog.show_stored(interaction, slug, f"Revision #{new}: reverted #{revision}.")

        await guarded(interaction, act)

    for command in (add, edit, remove, history):
        command.autocomplete("entry")(EditorGroup.entry_autocomplete)
        command.autocomplete("field")(EditorGroup.field_autocomplete)
    for command in (edit, remove):
        command.autocomplete("item")(EditorGroup.item_autocomplete)
    del command


class EntryGroup(EditorGroup):
    def __init__(self, cog: Curation) -> None:
        super().__init__(cog, name="entry", description="Add, edit and remove entries (moderators)")

    @app_commands.command(name="add", description="Add a newly announced series, season or spin-off")
    @app_commands.describe(
        slug="Short lowercase name, also its /citadel subcommand: season-3",
        title="Full title: Citadel season 3",
        parent="The series it belongs to",
        aliases="Comma-separated names fans might type: S3, season 3",
        description="One line for the command list (up to 100 characters)",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        slug: app_commands.Range[str, 1, 32],
        title: app_commands.Range[str, 1, 100],
        parent: str | None = None,
        aliases: app_commands.Range[str, 1, 1000] | None = None,
        description: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        async def act() -> None:
            entry = Entry(
                slug=read_slug(slug),
                title=read_title(title),
                description=read_description(description) if description else "",
                aliases=read_aliases(aliases) if aliases else (),
                parent=read_parent(parent, self.cog.entries(), None),
                position=max((e.position for e in self.cog.entries()), default=0) + 10,
            )
            revision = await self.cog.bot.store.create_entry(entry, who(interaction.user))
            await self.cog.entries_changed()
            await self.cog.show_stored(
                interaction,
                entry.slug,
                f"Revision #{revision}: added the entry “{entry.slug}”. It is in `/citadel show` now, and becomes "
                f"`/citadel {entry.slug}` after the next command sync (a restart, or `python -m bot sync`).",
            )

        await guarded(interaction, act)

    @app_commands.command(name="edit", description="Change an entry's title, parent, aliases or description")
    @app_commands.describe(
        entry=ENTRY_DESCRIBE,
        title="New title",
        parent="New parent entry",
        aliases="New comma-separated aliases (replace the old ones)",
        description="New one-line description",
        position="Order in lists (smaller first)",
    )
    async def edit(
        self,
        interaction: discord.Interaction,
        entry: str,
        title: app_commands.Range[str, 1, 100] | None = None,
        parent: str | None = None,
        aliases: app_commands.Range[str, 1, 1000] | None = None,
        description: app_commands.Range[str, 1, 100] | None = None,
        position: app_commands.Range[int, 0, 100000] | None = None,
    ) -> None:
        async def act() -> None:
            slug = self.cog.resolve(entry)
            old = self.cog.entries().by_slug[slug]
            new = Entry(
                slug=slug,
                title=read_title(title) if title else old.title,
                description=read_description(description) if description else old.description,
                aliases=read_aliases(aliases) if aliases else old.aliases,
                parent=read_parent(parent, self.cog.entries(), slug) if parent else old.parent,
                position=old.position if position is None else position,
            )
            revision = await self.cog.bot.store.change_entry(slug, new, who(interaction.user))
            await self.cog.entries_changed()
            await self.cog.show_stored(
                interaction, slug, f"Revision #{revision}: updated the entry “{slug}”."
            )

        await guarded(interaction, act)

    @app_commands.command(
        name="remove", description="Remove an entry (refused while it has facts, unless forced)"
    )
    @app_commands.describe(entry=ENTRY_DESCRIBE, force="Also remove its facts (asks you to confirm)")
    async def remove(self, interaction: discord.Interaction, entry: str, force: bool = False) -> None:
        async def act() -> None:
            slug = self.cog.resolve(entry)
            if force:
                count = len(await self.cog.bot.store.facts_for(slug))
                await interaction.response.send_message(
                    f"Remove “{slug}” and its {count} facts? Each removal is kept in the history.",
                    view=ConfirmRemoval(self.cog, slug, interaction.user.id),
                    ephemeral=True,
                )
                return
            revision = await self.cog.bot.store.retire_entry(slug, who(interaction.user))
            await self.cog.entries_changed()
            await reply_ephemeral(interaction, f"Revision #{revision}: removed the entry “{slug}”.")

        await guarded(interaction, act)

    for command in (edit, remove):
        command.autocomplete("entry")(EditorGroup.entry_autocomplete)
    for command in (add, edit):
        command.autocomplete("parent")(EditorGroup.entry_autocomplete)
    del command


class Curation(commands.Cog):
    def __init__(self, bot: CitadelBot) -> None:
        self.bot = bot
        self.guilds = [discord.Object(guild_id) for guild_id in bot.settings.home_guild_ids]
        self.groups: list[app_commands.Group] = []

    async def cog_load(self) -> None:
        if not self.guilds:
            log.info("HOME_GUILD_IDS is empty: the editing commands are not registered anywhere")
            return
        self.groups = [FactGroup(self), EntryGroup(self)]
        for group in self.groups:
            self.bot.tree.add_command(group, guilds=self.guilds)

    async def cog_unload(self) -> None:
        for group in self.groups:
            for guild in self.guilds:
                self.bot.tree.remove_command(group.name, guild=guild)

    # --- shared with the Citadel cog (which owns the cached entry list) ---------------------------

    def _citadel(self) -> Citadel:
        cog = self.bot.get_cog("Citadel")
        assert isinstance(cog, Citadel), "cogs.citadel loads before cogs.curation"
        return cog

    def entries(self) -> EntryIndex:
        return self._citadel().entries

    def has_entry(self, slug: str) -> bool:
        return slug in self.entries().by_slug

    def title_of(self, slug: str) -> str:
        entry = self.entries().by_slug.get(slug)
        return entry.title if entry is not None else slug

    async def entry_choices(self, current: str) -> list[app_commands.Choice[str]]:
        return await self._citadel().entry_choices(current)

    async def entries_changed(self) -> None:
        await self._citadel().refresh_entries()

    def resolve(self, typed: str) -> str:
        return resolve_entry(typed, self.entries()).slug

    def today(self) -> date:
        return self.bot.clock().date()

    # --- the actions ------------------------------------------------------------------------------

    async def target(self, slug: str, field: str, item: str | None) -> Fact:
        """The stored fact a command means: the only one of a single-valued field, or the item picked
        (by the revision number autocomplete gives, or by name)."""
        spec = require_field(field)
        facts = [f for f in await self.bot.store.facts_for(slug) if f.field == field]
        if not facts:
            raise InputError(f"{self.title_of(slug)} has no {spec.label} fact; use /fact add.")
        if item:
            by_revision = [f for f in facts if str(f.revision_id) == item]
            if not by_revision and item.isdigit() and await self.bot.store.revision(int(item)) is not None:
                raise StaleEdit(
                    f"Someone changed that {spec.label} item after you picked it (#{item}); pick it again.",
                    None,
                )
            wanted = fact_key(field, read_value(field, item)) if spec.multi and not by_revision else None
            found = by_revision or [f for f in facts if f.key == wanted] or ([] if spec.multi else facts)
            if not found:
                raise InputError(
                    f"{self.title_of(slug)} has no {spec.label} item “{one_line(item)}”; pick one from the list."
                )
            return found[0]
        if len(facts) > 1:
            raise InputError(f"{spec.label} has {len(facts)} items; say which one in item:.")
        return facts[0]

    async def add(self, interaction: discord.Interaction, slug: str, fact: Fact) -> None:
        revision = await self.bot.store.add_fact(slug, fact, who(interaction.user))
        await self.show_stored(
            interaction,
            slug,
            f"Revision #{revision}: added {FIELDS[fact.field].label} “{cut(fact.value, 200)}”.",
        )

    async def edit(
        self, interaction: discord.Interaction, slug: str, key: str, fact: Fact, seen: int | None
    ) -> None:
        revision = await self.bot.store.edit_fact(
            slug, fact.field, key, fact, who(interaction.user), expected_revision=seen
        )
        await self.show_stored(
            interaction,
            slug,
            f"Revision #{revision}: {FIELDS[fact.field].label} now says “{cut(fact.value, 200)}”.",
        )

    async def show_stored(self, interaction: discord.Interaction, slug: str, line: str) -> None:
        """Answer with what was stored, rendered exactly as fans will see it."""
        card = await entry_answer(self.bot.store, slug, self.entries(), self.bot.clock())
        kwargs = {
            "content": line,
            "embed": to_embed(card),
            "allowed_mentions": discord.AllowedMentions.none(),
        }
        if interaction.response.is_done():
            await interaction.followup.send(ephemeral=True, **kwargs)  # type: ignore[arg-type]
        else:
            await interaction.response.send_message(ephemeral=True, **kwargs)  # type: ignore[arg-type]


async def setup(bot: CitadelBot) -> None:
    await bot.add_cog(Curation(bot))
