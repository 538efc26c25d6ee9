"""Members' suggestions: /citadel suggest from any server, reviewed with buttons in the home server."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import discord
from discord.ext import commands

from bot.answers import AnswerError, resolve_entry
from bot.client import CitadelBot, Refused, editor_check, reply_ephemeral, who
from bot.curation import InputError, check_text, read_fact
from bot.facts import FIELDS
from bot.render import Card, CardField, Style, cut, fit, safe, to_embed
from bot.store import RateLimited, StoreError, Suggestion

log = logging.getLogger(__name__)

SUGGESTIONS_PER_HOUR = 5
REASON_LIMIT = 300


def review_card(suggestion: Suggestion, current: str | None) -> Card:
    """What moderators see: the suggested value, its source, what is stored now and who suggested it."""
    fact = suggestion.fact
    label = FIELDS[fact.field].label if fact.field in FIELDS else fact.field
    fields = [
        CardField("Source", f"{safe(fact.source, Style.DISCORD)} ({fact.source_date})"),
        CardField("Stored now", safe(current, Style.DISCORD) if current else "nothing yet"),
        CardField("Suggested by", f"{safe(suggestion.user_name, Style.DISCORD)} ({suggestion.user_id})"),
    ]
    if suggestion.status != "pending":
        decision = f"{suggestion.status.capitalize()} by {safe(suggestion.decided_by or '?', Style.DISCORD)}"
        if suggestion.revision_id:
            decision += f": revision #{suggestion.revision_id}"
        if suggestion.reason:
            decision += f"\nReason: {safe(suggestion.reason, Style.DISCORD)}"
        fields.append(CardField("Decision", decision))
    return fit(
        Card(
            f"Suggestion #{suggestion.id}: {suggestion.entry_title} · {label}",
            safe(fact.value, Style.DISCORD),
            tuple(fields),
            "Approve stores it as a revision crediting the suggester."
            if suggestion.status == "pending"
            else "",
        )
    )


class ReviewButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"suggestion:(?P<id>[0-9]+):(?P<action>approve|reject)",
):  # type: ignore[type-arg]
    """Approve / Reject: persistent, because the suggestion id is in the custom id, so the buttons
    keep working after a restart."""

    def __init__(self, suggestion_id: int, action: str) -> None:
        approve = action == "approve"
        super().__init__(
            discord.ui.Button(
                label="Approve" if approve else "Reject",
                style=discord.ButtonStyle.success if approve else discord.ButtonStyle.danger,
                custom_id=f"suggestion:{suggestion_id}:{action}",
            )
        )
        self.suggestion_id, self.action = suggestion_id, action

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Button,
        match: re.Match[str],  # type: ignore[type-arg]
    ) -> ReviewButton:
        return cls(int(match["id"]), match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        review = interaction.client.get_cog("Review")  # type: ignore[attr-defined]
        assert isinstance(review, Review)
        try:
            editor_check(interaction)
        except Refused as exc:
            await reply_ephemeral(interaction, str(exc))
            return
        if self.action == "approve":
            await review.decide(interaction, self.suggestion_id, approve=True)
        else:
            await interaction.response.send_modal(RejectModal(review, self.suggestion_id))


def review_view(suggestion_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ReviewButton(suggestion_id, "approve"))
    view.add_item(ReviewButton(suggestion_id, "reject"))
    return view


class RejectModal(discord.ui.Modal, title="Reject the suggestion"):
    reason: discord.ui.TextInput[RejectModal] = discord.ui.TextInput(
        label="Why (optional; the suggester is told)",
        custom_id="reason",
        style=discord.TextStyle.paragraph,
        required=False,
        max_length=REASON_LIMIT,
    )

    def __init__(self, review: Review, suggestion_id: int) -> None:
        super().__init__(timeout=900)
        self.review, self.suggestion_id = review, suggestion_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        try:
            editor_check(interaction)
            reason = (
                check_text("The reason", self.reason.value, REASON_LIMIT, multiline=True)
                if self.reason.value.strip()
                else ""
            )
        except (Refused, InputError) as exc:
            await reply_ephemeral(interaction, str(exc))
            return
        await self.review.decide(interaction, self.suggestion_id, approve=False, reason=reason)


class Review(commands.Cog):
    def __init__(self, bot: CitadelBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ReviewButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ReviewButton)

    async def submit(
        self,
        interaction: discord.Interaction,
        entry: str,
        field: str,
        value: str,
        source: str,
        source_date: str | None,
    ) -> None:
        """Store a member's suggestion and put it in front of the moderators."""
        store = self.bot.store
        citadel = self.bot.get_cog("Citadel")
        try:
            slug = resolve_entry(entry, citadel.entries).slug  # type: ignore[union-attr]
            fact = read_fact(field, value, source, source_date, self.bot.clock().date())
            current = await store.fact(slug, fact.field, fact.key)
            if current is not None and current.value == fact.value:
                raise InputError(
                    f"{FIELDS[field].label} already says “{cut(fact.value, 200)}”; thanks all the same."
                )
            suggestion = await store.add_suggestion(
                slug,
                fact,
                interaction.user.id,
                interaction.user.name,
                interaction.guild_id,
                limit=SUGGESTIONS_PER_HOUR,
                window=timedelta(hours=1),
            )
        except RateLimited as exc:
            when = discord.utils.format_dt(exc.retry_at, "R")
            await reply_ephemeral(interaction, f"{exc} You can suggest again {when}. Nothing was stored.")
            return
        except (InputError, AnswerError, StoreError) as exc:
            await reply_ephemeral(interaction, f"{exc} Nothing was stored.")
            return
        await reply_ephemeral(
            interaction,
            f"Thanks! Suggestion #{suggestion.id} is waiting for the moderators. If your DMs are open, "
            "the bot will tell you what they decide.",
        )
        await self.post_for_review(suggestion, current.value if current else None)

    async def post_for_review(self, suggestion: Suggestion, current: str | None) -> None:
        channel_id = self.bot.settings.review_channel_id
        if channel_id is None:
            log.warning("suggestion #%d stored, but REVIEW_CHANNEL_ID is not set", suggestion.id)
            return
        channel = self.bot.get_partial_messageable(channel_id)
        try:
            message = await channel.send(
                embed=to_embed(review_card(suggestion, current)),
                view=review_view(suggestion.id),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:
            log.warning("could not post suggestion #%d for review in %d: %s", suggestion.id, channel_id, exc)
            return
        await self.bot.store.set_review_message(suggestion.id, channel_id, message.id)

    async def decide(
        self, interaction: discord.Interaction, suggestion_id: int, *, approve: bool, reason: str = ""
    ) -> None:
        try:
            decided = await self.bot.store.decide_suggestion(
                suggestion_id, approve, who(interaction.user), reason
            )
        except StoreError as exc:
            await reply_ephemeral(interaction, str(exc))
            return
        current = await self.bot.store.fact(decided.entry_slug, decided.fact.field, decided.fact.key)
        card = review_card(decided, current.value if current else None)
        await interaction.response.edit_message(embed=to_embed(card), view=None)
        await self.tell_suggester(decided)

    async def tell_suggester(self, suggestion: Suggestion) -> None:
        """A DM with the outcome; a member with closed DMs simply isn't told."""
        label = (
            FIELDS[suggestion.fact.field].label if suggestion.fact.field in FIELDS else suggestion.fact.field
        )
        what = f"suggestion #{suggestion.id} for {suggestion.entry_title} ({label}: “{cut(suggestion.fact.value, 200)}”)"
        if suggestion.status == "approved":
            text = f"Your {what} was approved and is now part of the facts. Thank you!"
        else:
            text = f"Your {what} was not accepted." + (
                f" Reason: {suggestion.reason}" if suggestion.reason else ""
            )
        try:
            channel = await self.bot.create_dm(discord.Object(suggestion.user_id))
            await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.info("could not DM the suggester of #%d: %s", suggestion.id, exc)


async def setup(bot: CitadelBot) -> None:
    await bot.add_cog(Review(bot))
