"""Moderators' commands in the home server(s): /fact add, edit, remove, history, revert and /entry add, edit, remove."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import CitadelBot, bot_of
from bot.facts import CONFIDENCES, CONFIRMED, FIELDS, Entry, Fact, field_label
from bot.i18n import N_, either, tr, trn
from bot.inputs import (
    confidence_said,
    read_aliases,
    read_description,
    read_slug,
    read_source,
    read_spoiler,
    read_title,
)
from bot.options import CONFIDENCE_DESCRIBE, ConfidenceArg, EntryArg, FieldArg, item_choices
from bot.render import Card, action_words, cut, revision_field, source_label, to_embed, watch_card
from bot.services.curation import EntryChange
from bot.store import Revision
from bot.tree import Buttons, Form, editor_check, reply_ephemeral, who, writes

log = logging.getLogger(__name__)

HISTORY_PAGE = 5
MODAL_VALUE_LIMIT = 4000  # Discord's limit for a text input
REFUSED = writes()

# Buttons' labels, made when their classes are (then said in the reader's language for each message).
NEWER, OLDER = N_("◀ Newer"), N_("Older ▶")
REMOVE_ENTRY, KEEP_ENTRY = N_("Remove the entry and its facts"), N_("Keep it")
# A fact's spoiler mark, as the history says it.
SPOILER_MARKS = {"yes": N_("yes"), "no": N_("no")}


async def show_stored(interaction: discord.Interaction, slug: str, line: str) -> None:
    """Answer with what was stored, rendered exactly as fans will see it."""
    card = await bot_of(interaction).curation.stored_card(slug, interaction.guild_id)
    kwargs: dict[str, Any] = {
        "content": line,
        "embed": to_embed(card),
        "allowed_mentions": discord.AllowedMentions.none(),
        "ephemeral": True,
    }
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


async def add_fact(interaction: discord.Interaction, entry: Entry, fact: Fact) -> None:
    revision = await bot_of(interaction).curation.add_fact(entry, fact, who(interaction.user))
    await show_stored(
        interaction,
        entry.slug,
        tr(
            "Revision #{number}: added {field} “{value}”.",
            number=revision,
            field=field_label(fact.field),
            value=cut(fact.value, 200),
        ),
    )


async def edit_fact(
    interaction: discord.Interaction, entry: Entry, key: str, fact: Fact, seen: int | None
) -> None:
    revision = await bot_of(interaction).curation.edit_fact(entry, key, fact, who(interaction.user), seen)
    await show_stored(
        interaction,
        entry.slug,
        tr(
            "Revision #{number}: {field} now says “{value}”.",
            number=revision,
            field=field_label(fact.field),
            value=cut(fact.value, 200),
        ),
    )


class FactModal(Form):
    """For values too long for a slash option, and for editing with the current value in front of you.

    `expected_revision` is the revision the moderator saw: if someone else saves first, this one
    is refused instead of silently overwriting theirs."""

    refusal = REFUSED["refusal"]

    def __init__(
        self,
        *,
        entry: Entry,
        field: str,
        key: str | None,
        fact: Fact | None,
        source: str = "",
        source_date: str = "",
        confidence: str = CONFIRMED,
        spoiler: bool = False,
    ) -> None:
        spec = FIELDS[field]
        label = field_label(field)
        title = tr("Edit {field}", field=label) if fact else tr("Add {field}", field=label)
        super().__init__(title=cut(title, 45), timeout=900)
        self.entry, self.field, self.key = entry, field, key
        self.expected_revision = fact.revision_id if fact else None
        self.spoiler = fact.spoiler if fact else spoiler  # kept as it is: the command's option sets it
        self.value: discord.ui.TextInput[FactModal] = discord.ui.TextInput(
            label=cut(label, 45),
            custom_id="value",
            style=discord.TextStyle.paragraph,
            default=fact.value if fact else None,
            max_length=min(spec.limit, MODAL_VALUE_LIMIT),
        )
        self.source: discord.ui.TextInput[FactModal] = discord.ui.TextInput(
            label=cut(tr("Source: a link or the publication"), 45),
            custom_id="source",
            default=(fact.source if fact else source) or None,
            max_length=300,
        )
        self.source_date: discord.ui.TextInput[FactModal] = discord.ui.TextInput(
            label=cut(tr("Source date (empty: today)"), 45),
            custom_id="source_date",
            default=(fact.source_date if fact else source_date) or None,
            required=False,
            max_length=40,
        )
        self.confidence: discord.ui.TextInput[FactModal] = discord.ui.TextInput(
            label=cut(tr("Confidence: {confidences}", confidences=either(CONFIDENCES)), 45),
            custom_id="confidence",
            default=fact.confidence if fact else confidence,
            required=False,
            max_length=20,
        )
        for item in (self.value, self.source, self.source_date, self.confidence):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        editor_check(interaction)  # permissions may have changed while the form was open
        curation = bot_of(interaction).curation
        fact = curation.read_fact(
            self.field,
            self.value.value,
            self.source.value,
            self.source_date.value,
            self.confidence.value,
            spoiler=self.spoiler,
        )
        if self.key is None:
            await add_fact(interaction, self.entry, fact)
        else:
            await edit_fact(interaction, self.entry, self.key, fact, self.expected_revision)


class OwnedView(Buttons):
    """Buttons only the moderator who asked may press (and only while still a moderator)."""

    owner_id: int

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        editor_check(interaction)
        if interaction.user.id != self.owner_id:
            await reply_ephemeral(
                interaction, tr("These buttons belong to whoever asked; run the command yourself.")
            )
            return False
        return True


class HistoryView(OwnedView):
    """Pages of revisions, newest first, turned with buttons by the moderator who asked."""

    def __init__(self, title: str, revisions: Sequence[Revision], owner_id: int) -> None:
        super().__init__(timeout=600)
        self.title, self.owner_id, self.page = title, owner_id, 0
        self.revisions = list(reversed(revisions))
        self.pages = max(1, -(-len(self.revisions) // HISTORY_PAGE))
        self.newer.label, self.older.label = tr(NEWER), tr(OLDER)  # in the reader's language
        self._sync_buttons()

    def embed(self) -> discord.Embed:
        shown = self.revisions[self.page * HISTORY_PAGE : (self.page + 1) * HISTORY_PAGE]
        fields = tuple(
            (f"#{r.id} · {action_words(r.action)} · {revision_field(r)}", describe_revision(r)) for r in shown
        )
        # English has always said "1 revisions"; the plural form lets the other languages say it right.
        page = trn(
            "Page {page} of {pages} · {count} revisions",
            "Page {page} of {pages} · {count} revisions",
            len(self.revisions),
            page=self.page + 1,
            pages=self.pages,
        )
        card = Card(cut(self.title, 200), page)
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

    @discord.ui.button(label=NEWER, style=discord.ButtonStyle.secondary)
    async def newer(self, interaction: discord.Interaction, button: discord.ui.Button[HistoryView]) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label=OLDER, style=discord.ButtonStyle.secondary)
    async def older(self, interaction: discord.Interaction, button: discord.ui.Button[HistoryView]) -> None:
        await self._turn(interaction, 1)


def spoiler_mark(content: dict[str, Any] | None) -> str | None:
    """ "yes" or "no" for a fact's spoiler mark (revisions from before it: no); None for no fact."""
    if content is None or "title" in content:  # an entry's own revision has no spoiler mark
        return None
    return "yes" if content.get("spoiler") else "no"


def describe_revision(revision: Revision) -> str:
    def value(content: dict[str, Any] | None) -> str:
        if content is None:
            return "—"
        text = content.get("value") or content.get("title") or ""
        return f"“{cut(str(text), 200)}”"

    def confidence(content: dict[str, Any] | None) -> str | None:
        if content is None or "title" in content:  # an entry's own revision has no confidence
            return None
        return str(content.get("confidence", CONFIRMED))  # revisions from before confidences: confirmed

    when = revision.at.replace("T", " ").replace("+00:00", " UTC")
    lines = [tr("by {who} at {when}", who=revision.who, when=when)]
    lines.append(f"{value(revision.old)} → {value(revision.new)}")
    old_confidence, new_confidence = confidence(revision.old), confidence(revision.new)
    if old_confidence and new_confidence and old_confidence != new_confidence:
        old, new = confidence_said(old_confidence), confidence_said(new_confidence)
        lines.append(tr("confidence: {old} → {new}", old=old, new=new))
    elif (new_confidence or old_confidence or CONFIRMED) != CONFIRMED:
        lines.append(
            tr(
                "confidence: {confidence}",
                confidence=confidence_said(new_confidence or old_confidence or CONFIRMED),
            )
        )
    old_spoiler, new_spoiler = spoiler_mark(revision.old), spoiler_mark(revision.new)
    if old_spoiler is not None and new_spoiler is not None and old_spoiler != new_spoiler:
        lines.append(
            tr(
                "spoiler: {old} → {new}",
                old=tr(SPOILER_MARKS[old_spoiler]),
                new=tr(SPOILER_MARKS[new_spoiler]),
            )
        )
    elif "yes" in (new_spoiler, old_spoiler):
        lines.append(tr("spoiler: yes"))
    latest = revision.new or revision.old or {}
    if latest.get("source"):
        lines.append(
            tr(
                "source: {source}, {date}",
                source=source_label(latest["source"]),
                date=latest.get("source_date", ""),
            )
        )
    if revision.reason:
        lines.append(tr("reason: {reason}", reason=revision.reason))
    return discord.utils.escape_mentions("\n".join(lines))


class ConfirmRemoval(OwnedView):
    refusal = REFUSED["refusal"]

    def __init__(self, entry: Entry, owner_id: int) -> None:
        super().__init__(timeout=120)
        self.entry, self.owner_id = entry, owner_id
        self.confirm.label, self.cancel.label = tr(REMOVE_ENTRY), tr(KEEP_ENTRY)  # in the reader's language

    @discord.ui.button(label=REMOVE_ENTRY, style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmRemoval]
    ) -> None:
        slug = self.entry.slug
        revision = await bot_of(interaction).curation.remove_entry(slug, who(interaction.user), force=True)
        self.stop()
        await interaction.response.edit_message(
            content=tr(
                "Revision #{number}: removed the entry “{slug}” and its facts. "
                "`/fact revert revision:{number}` brings the entry back.",
                number=revision,
                slug=slug,
            ),
            view=None,
        )

    @discord.ui.button(label=KEEP_ENTRY, style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmRemoval]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(content=tr("Nothing was removed."), view=None)


class EditorGroup(app_commands.Group):
    """A command group only moderators of a home server may use (checked on every call)."""

    def __init__(self, bot: CitadelBot, **kwargs: Any) -> None:
        super().__init__(
            default_permissions=discord.Permissions(manage_guild=True), guild_only=True, **kwargs
        )
        self.bot = bot
        self.curation = bot.curation

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return editor_check(interaction)


ENTRY_DESCRIBE = "The entry: a title, a country or a lead actor"
FIELD_DESCRIBE = "Which fact: premiere, cast, director, status…"
ITEM_DESCRIBE = "For fields with several items (cast, filmed in…): which one"
SPOILER_DESCRIBE = "A plot or note that gives the story away, hidden for a while after the premiere"


class FactGroup(EditorGroup):
    def __init__(self, bot: CitadelBot) -> None:
        super().__init__(bot, name="fact", description="Add, correct, remove and revert facts (moderators)")

    @app_commands.command(name="add", description="Add a sourced fact to an entry", extras=REFUSED)
    @app_commands.describe(
        entry=ENTRY_DESCRIBE,
        field=FIELD_DESCRIBE,
        value="The fact; leave empty to type a long one in a form",
        source="A link (https://…) or the publication",
        source_date="When the source said it: 2024-10-10, October 2024 or 2024 (default today)",
        confidence=CONFIDENCE_DESCRIBE,
        spoiler=SPOILER_DESCRIBE + " (default: no)",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        entry: EntryArg,
        field: FieldArg,
        source: app_commands.Range[str, 1, 300],
        value: app_commands.Range[str, 1, 1000] | None = None,
        source_date: app_commands.Range[str, 1, 40] | None = None,
        confidence: ConfidenceArg | None = None,
        spoiler: bool = False,
    ) -> None:
        if value is None:  # too long for a slash option: a form instead
            read_source(source)
            read_spoiler(field, spoiler)
            modal = FactModal(
                entry=entry,
                field=field,
                key=None,
                fact=None,
                source=source,
                source_date=source_date or "",
                confidence=confidence or CONFIRMED,
                spoiler=spoiler,
            )
            await interaction.response.send_modal(modal)
            return
        fact = self.curation.read_fact(field, value, source, source_date, confidence, spoiler=spoiler)
        await add_fact(interaction, entry, fact)

    @app_commands.command(
        name="edit", description="Correct a fact (leave value empty to edit it in a form)", extras=REFUSED
    )
    @app_commands.describe(
        entry=ENTRY_DESCRIBE,
        field=FIELD_DESCRIBE,
        item=ITEM_DESCRIBE,
        value="The corrected fact (a new value needs its source); leave all empty to edit in a form",
        source="Where the new value comes from: a link or the publication (default: the current source)",
        source_date="When the source said it (default: the current source's date, or today for a new one)",
        confidence=CONFIDENCE_DESCRIBE + " (default: as it is)",
        spoiler=SPOILER_DESCRIBE + " (default: as it is)",
    )
    @app_commands.autocomplete(item=item_choices)
    async def edit(
        self,
        interaction: discord.Interaction,
        entry: EntryArg,
        field: FieldArg,
        item: app_commands.Range[str, 1, 100] | None = None,
        value: app_commands.Range[str, 1, 1000] | None = None,
        source: app_commands.Range[str, 1, 300] | None = None,
        source_date: app_commands.Range[str, 1, 40] | None = None,
        confidence: ConfidenceArg | None = None,
        spoiler: bool | None = None,
    ) -> None:
        current = await self.curation.target(entry, field, item)
        if (
            value is None
            and source is None
            and source_date is None
            and confidence is None
            and spoiler is None
        ):
            await interaction.response.send_modal(
                FactModal(entry=entry, field=field, key=current.key, fact=current)
            )
            return
        fact = self.curation.revised(current, value, source, source_date, confidence, spoiler)
        # Picked from autocomplete, `item` is the revision the moderator saw: edit only if it still is.
        seen = current.revision_id if item == str(current.revision_id) else None
        await edit_fact(interaction, entry, current.key, fact, seen)

    @app_commands.command(
        name="remove",
        description="Remove a fact (kept in its history; revert brings it back)",
        extras=REFUSED,
    )
    @app_commands.describe(
        entry=ENTRY_DESCRIBE, field=FIELD_DESCRIBE, item=ITEM_DESCRIBE, reason="Why, for the history"
    )
    @app_commands.autocomplete(item=item_choices)
    async def remove(
        self,
        interaction: discord.Interaction,
        entry: EntryArg,
        field: FieldArg,
        item: app_commands.Range[str, 1, 100] | None = None,
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        current = await self.curation.target(entry, field, item)
        revision = await self.curation.remove_fact(entry, current, who(interaction.user), reason or "")
        line = tr(
            "Revision #{number}: removed {field} “{value}”.",
            number=revision,
            field=field_label(field),
            value=cut(current.value, 200),
        )
        await show_stored(interaction, entry.slug, line)

    @app_commands.command(
        name="watcher", description="What the watcher of public sources read last, and when it reads next"
    )
    async def watcher(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        sources = await bot.watcher.sources() if bot.watcher is not None else []
        card = watch_card(sources, bot.settings.watch_interval_hours if bot.watcher is not None else 0)
        await interaction.response.send_message(
            embed=to_embed(card), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(
        name="history", description="Who changed what, when, and from which source", extras=REFUSED
    )
    @app_commands.describe(entry=ENTRY_DESCRIBE, field="Only this field (default: all, and the entry itself)")
    async def history(
        self, interaction: discord.Interaction, entry: EntryArg, field: FieldArg | None = None
    ) -> None:
        revisions = await self.curation.history(entry, field)
        title = entry.title + (f" · {field_label(field)}" if field else "")
        if not revisions:
            await reply_ephemeral(interaction, tr("{title} has no history yet.", title=title))
            return
        view = HistoryView(tr("History: {title}", title=title), revisions, interaction.user.id)
        await interaction.response.send_message(embed=view.embed(), view=view, ephemeral=True)

    @app_commands.command(
        name="revert",
        description="Put back what was there before a revision (as a new revision)",
        extras=REFUSED,
    )
    @app_commands.describe(revision="The revision number, from /fact history")
    async def revert(self, interaction: discord.Interaction, revision: app_commands.Range[int, 1]) -> None:
        done = await self.curation.revert(revision, who(interaction.user))
        slug = done.target.entry_slug
        if not done.entry_exists:
            line = tr(
                "Revision #{number}: reverted #{reverted}; the entry “{slug}” is removed again.",
                number=done.revision,
                reverted=revision,
                slug=slug,
            )
            await reply_ephemeral(interaction, line)
            return
        line = tr("Revision #{number}: reverted #{reverted}.", number=done.revision, reverted=revision)
        await show_stored(interaction, slug, line)


class EntryGroup(EditorGroup):
    def __init__(self, bot: CitadelBot) -> None:
        super().__init__(bot, name="entry", description="Add, edit and remove entries (moderators)")

    @app_commands.command(
        name="add", description="Add a newly announced series, season or spin-off", extras=REFUSED
    )
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
        parent: EntryArg | None = None,
        aliases: app_commands.Range[str, 1, 1000] | None = None,
        description: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        entry = Entry(
            slug=read_slug(slug),
            title=read_title(title),
            description=read_description(description) if description else "",
            aliases=read_aliases(aliases) if aliases else (),
            parent=parent.slug if parent else None,
            position=self.curation.next_position(),
        )
        revision = await self.curation.add_entry(entry, who(interaction.user))
        await show_stored(
            interaction,
            entry.slug,
            tr(
                "Revision #{number}: added the entry “{slug}”. It is in `/citadel show` now, and becomes "
                "`/citadel {slug}` after the next command sync (a restart, or `python -m bot sync`).",
                number=revision,
                slug=entry.slug,
            ),
        )

    @app_commands.command(
        name="edit", description="Change an entry's title, parent, aliases or description", extras=REFUSED
    )
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
        entry: EntryArg,
        title: app_commands.Range[str, 1, 100] | None = None,
        parent: EntryArg | None = None,
        aliases: app_commands.Range[str, 1, 1000] | None = None,
        description: app_commands.Range[str, 1, 100] | None = None,
        position: app_commands.Range[int, 0, 100000] | None = None,
    ) -> None:
        change = EntryChange(
            title=read_title(title) if title else None,
            description=read_description(description) if description else None,
            aliases=read_aliases(aliases) if aliases else None,
            parent=parent,
            position=position,
        )
        revision = await self.curation.edit_entry(entry, change, who(interaction.user))
        line = tr("Revision #{number}: updated the entry “{slug}”.", number=revision, slug=entry.slug)
        await show_stored(interaction, entry.slug, line)

    @app_commands.command(
        name="remove",
        description="Remove an entry (refused while it has facts, unless forced)",
        extras=REFUSED,
    )
    @app_commands.describe(entry=ENTRY_DESCRIBE, force="Also remove its facts (asks you to confirm)")
    async def remove(self, interaction: discord.Interaction, entry: EntryArg, force: bool = False) -> None:
        if force:
            count = await self.curation.fact_count(entry)
            # English has always said "its 1 facts"; the plural form lets the other languages say it right.
            await interaction.response.send_message(
                trn(
                    "Remove “{slug}” and its {count} facts? Each removal is kept in the history.",
                    "Remove “{slug}” and its {count} facts? Each removal is kept in the history.",
                    count,
                    slug=entry.slug,
                ),
                view=ConfirmRemoval(entry, interaction.user.id),
                ephemeral=True,
            )
            return
        revision = await self.curation.remove_entry(entry.slug, who(interaction.user))
        line = tr("Revision #{number}: removed the entry “{slug}”.", number=revision, slug=entry.slug)
        await reply_ephemeral(interaction, line)


class Curation(commands.Cog):
    def __init__(self, bot: CitadelBot) -> None:
        self.bot = bot
        self.guilds = [discord.Object(guild_id) for guild_id in bot.settings.home_guild_ids]
        self.groups: list[app_commands.Group] = []

    async def cog_load(self) -> None:
        if not self.guilds:
            log.info("HOME_GUILD_IDS is empty: the editing commands are not registered anywhere")
            return
        self.groups = [FactGroup(self.bot), EntryGroup(self.bot)]
        for group in self.groups:
            self.bot.tree.add_command(group, guilds=self.guilds)

    async def cog_unload(self) -> None:
        for group in self.groups:
            for guild in self.guilds:
                self.bot.tree.remove_command(group.name, guild=guild)


async def setup(bot: CitadelBot) -> None:
    await bot.add_cog(Curation(bot))
