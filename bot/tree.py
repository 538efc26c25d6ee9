"""The command tree and what every cog shares on the Discord side: the one error path, the ephemeral
reply, the server-side permission checks, and the base classes of forms and buttons."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Mapping
from typing import Any

import discord
from discord import app_commands

from bot.config import Settings
from bot.errors import CitadelError
from bot.i18n import tr, trn
from bot.metrics import ERROR, OK, REFUSED, Metrics
from bot.permissions import holds_role
from bot.refusals import NOTHING_CHANGED, refusal

log = logging.getLogger(__name__)

REFUSAL = "refusal"  # a command's extras (or an interaction's) name what a refused write did not do
OUTCOME = "outcome"  # an interaction's extras: how the error path answered it (REFUSED or ERROR)
RECEIVED = "received"  # an interaction's extras: time.perf_counter() when the tree was handed it
UNKNOWN_COMMAND = "unknown"  # the command label of one the tree does not have
# What the error path answers with a line saying why; anything else is unexpected (logged, ERROR).
EXPECTED = (
    CitadelError,
    app_commands.CheckFailure,  # Refused, missing permissions, cooldowns, no DMs
    app_commands.TransformerError,
    app_commands.CommandNotFound,
)


def writes(note: str = NOTHING_CHANGED) -> dict[str, Any]:
    """`extras` of a command that changes something: a refusal ends by saying `note`."""
    return {REFUSAL: note}


async def reply_ephemeral(interaction: discord.Interaction, message: str) -> None:
    """Say one line only the user sees, through whichever channel is still open."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(
                message, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
        else:
            await interaction.response.send_message(
                message, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
    except discord.HTTPException as exc:  # the interaction expired or was answered elsewhere
        log.warning("could not tell the user about an error: %s", exc)


class Refused(app_commands.CheckFailure):
    """A check refused the user; the message says why and is shown to them as it is."""


def _cause(error: Exception) -> Exception:
    """The error a command, a transformer or a form raised, out of discord.py's wrappers."""
    if isinstance(error, app_commands.CommandInvokeError):
        return error.original
    if isinstance(error, app_commands.TransformerError) and isinstance(error.__cause__, CitadelError):
        return error.__cause__
    return error


class CitadelTree(app_commands.CommandTree[Any]):
    """Turns every error of a command, a form or a button into one short ephemeral line; unexpected
    ones are logged once with their traceback. Every slash command and autocomplete it handles is
    counted and timed in the bot's Metrics, with its outcome."""

    # discord.py's own hooks (pinned: discord.py 2.7): _from_interaction hands an interaction to the tree
    # and starts the task that runs _call, which runs the command, its checks and the error handlers.

    def _from_interaction(self, interaction: discord.Interaction) -> None:
        # Called as the gateway event is parsed; the handling task starts a little later (later still
        # under load), and the user waits for that too.
        interaction.extras[RECEIVED] = time.perf_counter()
        super()._from_interaction(interaction)

    async def _call(self, interaction: discord.Interaction) -> None:
        try:
            await super()._call(interaction)
        except app_commands.AppCommandError as exc:
            # Raised before any command ran (one the tree does not have, or one out of date): discord.py
            # would hand it to on_error after this returns; here the answer is inside the measured time.
            await self._dispatch_error(interaction, exc)
        except BaseException:
            interaction.extras.setdefault(OUTCOME, ERROR)
            raise
        finally:
            self._measure(interaction)

    def _measure(self, interaction: discord.Interaction) -> None:
        metrics = getattr(self.client, "metrics", None)
        if not isinstance(metrics, Metrics):
            return
        started = interaction.extras.get(RECEIVED)
        seconds = time.perf_counter() - started if isinstance(started, float) else 0.0
        command = interaction.command
        name = command.qualified_name if command is not None else UNKNOWN_COMMAND
        if interaction.type is discord.InteractionType.autocomplete:
            # discord.py logs and swallows an autocomplete's errors: no choices sent is the failure.
            metrics.autocompleted(name, interaction.response.is_done(), seconds)
            return
        outcome = interaction.extras.get(OUTCOME) or (ERROR if interaction.command_failed else OK)
        metrics.answered(name, outcome, seconds)

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await self.report(interaction, error)

    async def report(self, interaction: discord.Interaction, error: Exception) -> None:
        cause = _cause(error)
        interaction.extras[OUTCOME] = REFUSED if isinstance(cause, EXPECTED) else ERROR
        if interaction.type is discord.InteractionType.autocomplete:
            log.error("autocomplete for /%s failed", self._name(interaction), exc_info=error)
            return
        await reply_ephemeral(interaction, self.line(interaction, cause))

    def line(self, interaction: discord.Interaction, error: Exception) -> str:
        if isinstance(error, CitadelError):
            note = interaction.extras.get(REFUSAL)
            if note is None and interaction.command is not None:
                note = interaction.command.extras.get(REFUSAL)
            return refusal(error, note)
        if isinstance(error, app_commands.CommandOnCooldown):
            seconds = round(error.retry_after)
            return trn(
                "Slow down a little: try again in {seconds} second.",
                "Slow down a little: try again in {seconds} seconds.",
                seconds,
                seconds=seconds,
            )
        if isinstance(error, app_commands.MissingPermissions):
            return tr(
                "You need the {permissions} permission to do that.",
                permissions=", ".join(error.missing_permissions),
            )
        if isinstance(error, Refused):
            return str(error)
        if isinstance(error, app_commands.NoPrivateMessage):
            return tr("That only works in a server.")
        if isinstance(error, app_commands.CheckFailure):
            return tr("You can't use that command here.")
        if isinstance(error, app_commands.TransformerError):
            return tr("I couldn't read “{value}”; check the option and try again.", value=error.value)
        if isinstance(error, app_commands.CommandNotFound):
            return tr(
                "That command isn't available here; Discord may take a minute to refresh your command list."
            )
        log.error("%s failed", self._name(interaction), exc_info=error)
        return tr("Something went wrong on our side and it has been logged. Please try again in a minute.")

    @staticmethod
    def _name(interaction: discord.Interaction) -> str:
        if interaction.command is not None:
            return f"/{interaction.command.qualified_name}"
        data: Mapping[str, object] = interaction.data or {}
        return f"component {data.get('custom_id', '?')}"


async def hand_over(interaction: discord.Interaction, error: Exception, note: str | None) -> None:
    """Give an error of a form or a button to the tree's one path; `note` ends a refused write's line."""
    if note is not None:
        interaction.extras[REFUSAL] = note
    tree = interaction.client.tree  # type: ignore[attr-defined]  # Client has no tree; our bot does
    assert isinstance(tree, CitadelTree)
    await tree.report(interaction, error)


class Form(discord.ui.Modal):
    """A modal whose errors take the tree's one path. `refusal` ends a refused write's line."""

    refusal: str | None = None

    # discord.py's own Modal drops BaseView.on_error's `item` the same way.
    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:  # type: ignore[override]
        await hand_over(interaction, error, self.refusal)


class Buttons(discord.ui.View):
    """A view whose errors take the tree's one path. `refusal` ends a refused write's line."""

    refusal: str | None = None

    async def on_error(
        self,
        interaction: discord.Interaction,
        error: Exception,
        item: discord.ui.Item[Any],
        /,
    ) -> None:
        await hand_over(interaction, error, self.refusal)


# --- server-side permission checks -------------------------------------------------------------------


def settings_of(interaction: discord.Interaction) -> Settings:
    settings = interaction.client.settings  # type: ignore[attr-defined]  # Client has no settings; our bot does
    assert isinstance(settings, Settings)
    return settings


def editor_check(interaction: discord.Interaction) -> bool:
    """The server-side guard of every editing command and review button: the bot's home server, and
    Manage Server or the editor role. Discord's command permissions can be overridden by a server's
    admins, so they never decide alone."""
    settings = settings_of(interaction)
    if interaction.guild_id is None or interaction.guild_id not in settings.home_guild_ids:
        raise Refused(tr("Editing the facts works only in the bot's home server."))
    if interaction.permissions.manage_guild:
        return True
    member = interaction.user
    role_id = settings.editor_role_id
    if role_id and isinstance(member, discord.Member) and holds_role(member, role_id):
        return True
    raise Refused(
        tr("Only moderators can do that: it needs the Manage Server permission or the editor role.")
    )


def admin_check(interaction: discord.Interaction) -> bool:
    """Manage Server in this server, checked here as well as by Discord's command permissions."""
    if interaction.guild_id is None:
        raise Refused(tr("Announcements are set per server: use this in a server."))
    if not interaction.permissions.manage_guild:
        raise Refused(
            tr("Only members with the Manage Server permission can change this server's announcements.")
        )
    return True


def who(user: discord.abc.User) -> str:
    """How a revision names the person who made it."""
    return f"{user.name} ({user.id})"


async def guarded(
    interaction: discord.Interaction, action: Awaitable[None], refusal: str | None = None
) -> None:
    """Run a button's action where discord.py hands its errors to nobody (a persistent DynamicItem's
    callback only logs them): they take the tree's one path too."""
    try:
        await action
    except Exception as exc:
        await hand_over(interaction, exc, refusal)


def server_locale(interaction: discord.Interaction) -> str | None:
    """The server's own language, as Discord sends it with every interaction in a server."""
    return interaction.guild_locale.value if interaction.guild_locale else None
