"""Members' suggestions reviewed with buttons in the home server: the post, Approve and Reject, and the
outcome told to the member."""

from __future__ import annotations

import logging
import re
from typing import Any

import discord
from discord.ext import commands

from bot.client import CitadelBot, bot_of
from bot.facts import field_label
from bot.i18n import reading, tr
from bot.inputs import check_text, confidence_said
from bot.render import Card, CardField, Style, cut, fit, safe, to_embed
from bot.store import WATCHER_USER_ID, Suggestion
from bot.tree import Form, editor_check, guarded, server_locale, who

log = logging.getLogger(__name__)

REASON_LIMIT = 300


def suggested_by(suggestion: Suggestion) -> str:
    if suggestion.user_id == WATCHER_USER_ID:
        return tr(
            "the watcher, from {source}: {note}",
            source=safe(suggestion.user_name, Style.DISCORD),
            note=safe(suggestion.fact.note, Style.DISCORD),
        )
    return f"{safe(suggestion.user_name, Style.DISCORD)} ({suggestion.user_id})"


def decision(suggestion: Suggestion) -> str:
    """Who decided, and how: "Approved by mod: revision #12", "Rejected by mod" and the reason."""
    by = safe(suggestion.decided_by or "?", Style.DISCORD)
    if suggestion.status == "approved" and suggestion.revision_id:
        said = tr("Approved by {who}: revision #{number}", who=by, number=suggestion.revision_id)
    elif suggestion.status == "approved":
        said = tr("Approved by {who}", who=by)
    else:
        said = tr("Rejected by {who}", who=by)
    if suggestion.reason:
        said += "\n" + tr("Reason: {reason}", reason=safe(suggestion.reason, Style.DISCORD))
    return said


def review_card(suggestion: Suggestion, current: str | None) -> Card:
    """What moderators see: the suggested value, its source, what is stored now and who suggested it."""
    fact = suggestion.fact
    fields = [
        CardField(tr("Source"), f"{safe(fact.source, Style.DISCORD)} ({fact.source_date})"),
        CardField(tr("Confidence"), confidence_said(fact.confidence)),
        CardField(tr("Stored now"), safe(current, Style.DISCORD) if current else tr("nothing yet")),
        CardField(tr("Suggested by"), suggested_by(suggestion)),
    ]
    if suggestion.status != "pending":
        fields.append(CardField(tr("Decision"), decision(suggestion)))
    return fit(
        Card(
            tr(
                "Suggestion #{number}: {title} · {field}",
                number=suggestion.id,
                title=suggestion.entry_title,
                field=field_label(fact.field),
            ),
            safe(fact.value, Style.DISCORD),
            tuple(fields),
            tr("Approve stores it as a revision crediting the suggester.")
            if suggestion.status == "pending"
            else "",
        )
    )


async def home_language(bot: CitadelBot, guild_id: int | None, told: str | None = None) -> str | None:
    """The language of the home server the review channel is in (as its posts are: /announce language,
    else its own): the review post is the moderators' common ground, whoever suggested or pressed a
    button. `told`: the server's own language, as an interaction from it just said."""
    if guild_id is None:
        return None
    return await bot.announcements.server_language(guild_id, told)


class ReviewButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"suggestion:(?P<id>[0-9]+):(?P<action>approve|reject)",
):
    """Approve / Reject: persistent, because the suggestion id is in the custom id, so the buttons
    keep working after a restart."""

    def __init__(self, suggestion_id: int, action: str) -> None:
        approve = action == "approve"
        super().__init__(
            discord.ui.Button(
                label=tr("Approve") if approve else tr("Reject"),
                style=discord.ButtonStyle.success if approve else discord.ButtonStyle.danger,
                custom_id=f"suggestion:{suggestion_id}:{action}",
            )
        )
        self.suggestion_id, self.action = suggestion_id, action

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> ReviewButton:
        return cls(int(match["id"]), match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, self._press(interaction))

    async def _press(self, interaction: discord.Interaction) -> None:
        editor_check(interaction)
        if self.action == "approve":
            await decide(interaction, self.suggestion_id, approve=True)
        else:
            await interaction.response.send_modal(RejectModal(self.suggestion_id))


def review_view(suggestion_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ReviewButton(suggestion_id, "approve"))
    view.add_item(ReviewButton(suggestion_id, "reject"))
    return view


class RejectModal(Form):
    """Reject, with a reason the suggester is told; in the language of the moderator who pressed Reject."""

    def __init__(self, suggestion_id: int) -> None:
        super().__init__(title=tr("Reject the suggestion"), timeout=900)
        self.suggestion_id = suggestion_id
        self.reason: discord.ui.TextInput[RejectModal] = discord.ui.TextInput(
            label=tr("Why (optional; the suggester is told)"),
            custom_id="reason",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=REASON_LIMIT,
        )
        self.add_item(self.reason)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        editor_check(interaction)  # permissions may have changed while the form was open
        text = self.reason.value
        reason = check_text(tr("The reason"), text, REASON_LIMIT, multiline=True) if text.strip() else ""
        await decide(interaction, self.suggestion_id, approve=False, reason=reason)


async def decide(
    interaction: discord.Interaction, suggestion_id: int, *, approve: bool, reason: str = ""
) -> None:
    """Approve or reject, show the decision on the review post, and tell the member."""
    bot = bot_of(interaction)
    decided, current = await bot.curation.decide(
        suggestion_id, approve=approve, by=who(interaction.user), reason=reason
    )
    with reading(await home_language(bot, interaction.guild_id, server_locale(interaction))):
        card = to_embed(review_card(decided, current))
    await interaction.response.edit_message(embed=card, view=None)
    await tell_suggester(bot, decided)


class Review(commands.Cog):
    def __init__(self, bot: CitadelBot) -> None:
        self.bot = bot
        self.posting: set[int] = set()  # suggestions whose review post is on its way
        self._review_server: int | None = None

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ReviewButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ReviewButton)

    @commands.Cog.listener()
    async def on_suggestion_made(self, suggestion: Suggestion, current: str | None) -> None:
        """Put a suggestion (a member's from /citadel suggest, or the watcher's) in front of the moderators."""
        if suggestion.id in self.posting:
            return
        self.posting.add(suggestion.id)  # no await since the check: one post per suggestion at a time
        try:
            # Posted already (on_ready found it unposted while this event was on its way)? Then not again.
            if await self.bot.curation.posted_already(suggestion.id):
                return
            await self.post_for_review(suggestion, current)
        finally:
            self.posting.discard(suggestion.id)

    @commands.Cog.listener()
    async def on_gateway_connected(self) -> None:
        """Suggestions filed while the bot was away (`python -m bot watch`, a failed post) are posted now."""
        if self.bot.settings.review_channel_id is None:
            return
        for suggestion in await self.bot.curation.unposted():
            current = await self.bot.curation.stored_value(suggestion)
            await self.on_suggestion_made(suggestion, current)

    async def review_server(self, channel_id: int) -> int | None:
        """The server of the review channel, asked of Discord once (the bot keeps no copy of its
        servers); None if Discord cannot say (the post then fails with its own line)."""
        if self._review_server is None:
            try:
                channel = await self.bot.http.get_channel(channel_id)
            except discord.HTTPException:
                return None
            guild_id = channel.get("guild_id")
            self._review_server = int(guild_id) if isinstance(guild_id, str) else None
        return self._review_server

    async def post_for_review(self, suggestion: Suggestion, current: str | None) -> None:
        channel_id = self.bot.settings.review_channel_id
        if channel_id is None:
            log.warning("suggestion #%d stored, but REVIEW_CHANNEL_ID is not set", suggestion.id)
            return
        channel = self.bot.get_partial_messageable(channel_id)
        # In the home server's language, not the suggester's (whose reader this task may have kept).
        with reading(await home_language(self.bot, await self.review_server(channel_id))):
            card, view = to_embed(review_card(suggestion, current)), review_view(suggestion.id)
        try:
            message = await channel.send(
                embed=card, view=view, allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.HTTPException as exc:
            log.warning("could not post suggestion #%d for review in %d: %s", suggestion.id, channel_id, exc)
            return
        await self.bot.curation.posted_for_review(suggestion, channel_id, message.id)


async def tell_suggester(bot: CitadelBot, suggestion: Suggestion) -> None:
    """A DM with the outcome; a member with closed DMs simply isn't told (nor the watcher, who is no one)."""
    if suggestion.user_id == WATCHER_USER_ID:
        return
    with reading(suggestion.locale):  # in the language they suggested in, not the moderator's
        said = {
            "number": suggestion.id,
            "title": suggestion.entry_title,
            "field": field_label(suggestion.fact.field),
            "value": cut(suggestion.fact.value, 200),
        }
        if suggestion.status == "approved":
            text = tr(
                "Your suggestion #{number} for {title} ({field}: “{value}”) was approved and is now part of "
                "the facts. Thank you!",
                **said,
            )
        elif suggestion.reason:
            text = tr(
                "Your suggestion #{number} for {title} ({field}: “{value}”) was not accepted. Reason: {reason}",
                reason=suggestion.reason,
                **said,
            )
        else:
            text = tr("Your suggestion #{number} for {title} ({field}: “{value}”) was not accepted.", **said)
    try:
        channel = await bot.create_dm(discord.Object(suggestion.user_id))
        await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
    except discord.HTTPException as exc:
        log.info("could not DM the suggester of #%d: %s", suggestion.id, exc)


async def setup(bot: CitadelBot) -> None:
    await bot.add_cog(Review(bot))
