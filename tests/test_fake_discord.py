"""Tests of the fake Discord itself, driven by a real discord.py client over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import io
import itertools
import json
import math
import os
import statistics
import sys
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
import pytest_asyncio
import yarl
from discord import app_commands
from discord.http import Route, handle_message_parameters
from discord.webhook.async_ import interaction_message_response_params

from tests.fake_discord import CommandNotSynced, FakeDiscord, InteractionRecord, RateLimits, openapi, rest
from tests.fake_discord.payloads import (
    EMBED_LINKS,
    FLAG_EPHEMERAL,
    MANAGE_EVENTS,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    shard_for_guild,
)
from tests.fake_discord.waiting import Changes

ROOT = Path(__file__).resolve().parents[1]
INTENTS = discord.Intents.none()
INTENTS.guilds = True


def build_tree(tree: app_commands.CommandTree, seen: dict[str, Any]) -> None:
    """A small command tree shaped like the bot's: a group with subcommands, a subgroup, autocomplete."""
    citadel = app_commands.Group(name="citadel", description="Facts about Citadel")
    admin = app_commands.Group(name="admin", description="Moderator tools", parent=citadel)

    async def entry_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        seen["autocomplete_current"] = current
        names = ["italy", "india", "diana", "honey-bunny"]
        return [app_commands.Choice(name=n.title(), value=n) for n in names if current in n][:25]

    @citadel.command(name="diana", description="Citadel: Diana")
    @app_commands.describe(detail="More detail", count="How many facts", who="Someone to show")
    async def diana(
        interaction: discord.Interaction,
        detail: bool = False,
        count: int = 1,
        who: discord.User | None = None,
    ) -> None:
        seen["diana"] = {"detail": detail, "count": count, "who": who.id if who else None}
        seen["diana_interaction"] = interaction
        embed = discord.Embed(title="Citadel: Diana", description="Italian spin-off", colour=0x2F3136)
        embed.add_field(name="Premiere", value="10 October 2024")
        embed.set_footer(text="Source: Prime Video, 2024-09-11")
        await interaction.response.send_message(embed=embed, allowed_mentions=discord.AllowedMentions.none())

    @citadel.command(name="show", description="Show an entry")
    @app_commands.autocomplete(entry=entry_autocomplete)
    async def show(interaction: discord.Interaction, entry: str) -> None:
        await interaction.response.defer(thinking=True)
        embed = discord.Embed(title=f"Entry: {entry}")
        await interaction.edit_original_response(embed=embed)
        await interaction.followup.send(f"More about {entry}", ephemeral=True)

    @citadel.command(name="twice", description="Answers once")
    async def twice(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("first answer")

    @citadel.command(name="slow", description="Answers too late")
    async def slow(interaction: discord.Interaction) -> None:
        # Simulates a command that takes too long (not a wait for anything): the window closes meanwhile.
        await asyncio.sleep(seen.get("slow_delay", 0.3))
        try:
            await interaction.response.send_message("late")
        except discord.NotFound as exc:
            seen["slow_error"] = exc

    @citadel.command(name="where", description="Where am I")
    async def where(interaction: discord.Interaction) -> None:
        seen["where"] = {
            "guild": interaction.guild_id,
            "user": interaction.user.id,
            "shard": interaction.client.shard_id,
            "context": interaction.context,
        }
        await interaction.response.send_message("here", ephemeral=True)

    @citadel.command(name="menu", description="Shows a button")
    async def menu(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Suggest a fact?", view=SuggestView(seen))

    @admin.command(name="add", description="Add a fact")
    async def add(interaction: discord.Interaction, fact: str) -> None:
        await interaction.response.send_message(f"added {fact}", ephemeral=True)

    tree.add_command(citadel)


class SuggestModal(discord.ui.Modal, title="Suggest a fact"):
    fact = discord.ui.TextInput(label="Fact", custom_id="fact", max_length=200)

    def __init__(self, seen: dict[str, Any]) -> None:
        super().__init__(custom_id="suggest-modal")
        self.seen = seen

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.seen["suggested"] = self.fact.value
        await interaction.response.send_message("Thanks!", ephemeral=True)


class SuggestView(discord.ui.View):
    def __init__(self, seen: dict[str, Any]) -> None:
        super().__init__(timeout=30)
        self.seen = seen

    @discord.ui.button(label="Suggest", custom_id="suggest", style=discord.ButtonStyle.primary)
    async def suggest(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.send_modal(SuggestModal(self.seen))
        self.seen.setdefault("clicks_handled", Handled()).add(interaction.id)  # the modal is registered


class Handled:
    """The ids of the interactions the client has finished handling, to wait on."""

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.changes = Changes()

    def add(self, interaction_id: int) -> None:
        self.ids.add(interaction_id)
        self.changes.notify()

    async def wait(self, record: InteractionRecord) -> None:
        await self.changes.wait_for(lambda: record.id in self.ids, 5.0, f"interaction {record.id} handled")


class Bot:
    """A real discord.py Client with a real command tree, connected to the fake."""

    def __init__(
        self, fake: FakeDiscord, *, intents: discord.Intents = INTENTS, **client_options: Any
    ) -> None:
        self.fake = fake
        self.seen: dict[str, Any] = {}
        # guild_ready_timeout is a supported Client option: on_ready comes 0.05 s after the last guild.
        self.client = discord.Client(intents=intents, guild_ready_timeout=0.05, **client_options)
        self.tree = app_commands.CommandTree(self.client)
        build_tree(self.tree, self.seen)
        self.task: asyncio.Task[None] | None = None
        # discord.py says when a slash command's callback has returned (and, with it, registered its view);
        # the view's button says so itself.
        self.commands_handled = Handled()
        self.clicks_handled = self.seen["clicks_handled"] = Handled()

        @self.client.event
        async def on_app_command_completion(interaction: discord.Interaction, command: Any) -> None:
            self.commands_handled.add(interaction.id)

    async def start(self, *, expect_guilds: int | None = None) -> Bot:
        await self.client.login(self.fake.token)
        self.task = asyncio.create_task(self.client.connect())
        shard = self.client.shard_id or 0
        await self.fake.wait_for_ready(shard)
        await self.fake.wait_for_dispatches_read(shard)  # every GUILD_CREATE is in the client's cache
        expected = self.fake.guild_count if expect_guilds is None else expect_guilds
        assert len(self.client.guilds) == expected
        return self

    async def close(self) -> None:
        await self.client.close()
        if self.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 5)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(3) as server:
        with server.point_discord_py_here():
            yield server


@contextlib.asynccontextmanager
async def running_bot(fake: FakeDiscord, **options: Any) -> AsyncIterator[Bot]:
    bot = Bot(fake, **options)
    try:
        yield await bot.start()
    finally:
        await bot.close()


@pytest_asyncio.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[Bot]:
    async with running_bot(fake) as started:
        await started.tree.sync()
        yield started
    # Every test also proves the bot's traffic was valid and the fake itself never failed.
    assert fake.invalid_requests == [], fake.invalid_requests
    assert fake.errors == []


class _ZlibContext:
    """discord.py's own zlib-stream decompressor, for when it would otherwise pick zstd-stream."""

    COMPRESSION_TYPE = "zlib-stream"

    def __init__(self) -> None:
        import zlib

        self.context = zlib.decompressobj()
        self.buffer = bytearray()

    def decompress(self, data: bytes, /) -> str | None:
        self.buffer.extend(data)
        if len(data) < 4 or data[-4:] != b"\x00\x00\xff\xff":
            return None
        msg = self.context.decompress(self.buffer)
        self.buffer = bytearray()
        return msg.decode("utf-8")


# --- gateway ------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_zlib_stream_client_gets_ready_and_every_guild(
    fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    if discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE != "zlib-stream":
        monkeypatch.setattr(discord.utils, "_ActiveDecompressionContext", _ZlibContext)
    async with running_bot(fake) as bot:
        assert sorted(g.id for g in bot.client.guilds) == sorted(fake.guild_ids)
        assert all(g.text_channels and g.default_role.id == g.id for g in bot.client.guilds)
        assert bot.client.user is not None and bot.client.user.id == fake.bot_user_id
        await asyncio.wait_for(bot.client.wait_until_ready(), 2)
    assert fake.gateway_compressions == ["zlib-stream"]
    assert len(fake.identifies) == 1
    assert fake.identifies[0]["intents"] == INTENTS.value == 1  # GUILDS only, nothing privileged
    assert fake.heartbeats >= 1  # discord.py heartbeats right after HELLO
    assert fake.errors == []


@pytest.mark.asyncio
async def test_zstd_stream_client_gets_ready_and_every_guild(fake: FakeDiscord) -> None:
    pytest.importorskip("zstandard")
    if discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE != "zstd-stream":
        pytest.skip("discord.py picked another compression")
    async with running_bot(fake) as bot:
        assert len(bot.client.guilds) == fake.guild_count
    assert fake.gateway_compressions == ["zstd-stream"]


@pytest.mark.asyncio
async def test_without_the_guilds_intent_ready_lists_the_guilds_and_no_guild_create_follows(
    fake: FakeDiscord,
) -> None:
    async with running_bot(fake, intents=discord.Intents.none()) as bot:
        # READY's list only: every guild unavailable, nothing more about any of them.
        assert sorted(g.id for g in bot.client.guilds) == sorted(fake.guild_ids)
        assert all(g.unavailable and not g.channels for g in bot.client.guilds)
        await bot.tree.sync()
        rec = await fake.invoke_command("citadel", subcommand="diana")
        assert (await rec.wait_response())["data"]["embeds"][0]["title"] == "Citadel: Diana"
    assert fake.identifies[0]["intents"] == 0
    assert fake.dispatch_counts["READY"] == 1 and fake.dispatch_counts["GUILD_CREATE"] == 0


@pytest.mark.asyncio
async def test_privileged_intents_are_refused_unless_enabled(fake: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.all())
    try:
        await client.login(fake.token)
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await asyncio.wait_for(client.connect(), 5)
    finally:
        await client.close()
    assert fake.identifies[0]["intents"] & (1 << 15)


@pytest.mark.asyncio
async def test_dropped_connection_resumes_and_replays_what_was_missed(bot: Bot) -> None:
    fake = bot.fake
    session_id = fake.shard_sessions[0].id
    await fake.drop_connections()
    # Sent while the client is away: the session keeps it and RESUME replays it.
    missed = await fake.invoke_command("citadel", subcommand="where")
    await fake.wait_for_resume()
    assert len(fake.resumes) == 1
    assert fake.resumes[0]["session_id"] == session_id
    assert len(fake.identifies) == 1
    assert (await missed.wait_response())["type"] == 4

    after = await fake.invoke_command("citadel", subcommand="diana")
    assert (await after.wait_response())["data"]["embeds"][0]["title"] == "Citadel: Diana"


@pytest.mark.asyncio
async def test_a_session_closed_longer_than_the_resume_window_is_refused_with_op_9(bot: Bot) -> None:
    fake = bot.fake
    old = fake.shard_sessions[0].id
    ticks = itertools.count()
    fake.monotonic = lambda: next(ticks) * (fake.resume_window + 1)  # each look is past the window
    await fake.drop_connections()
    # Refused, the client IDENTIFYs again and gets a new session.
    await fake.changes.wait_for(lambda: len(fake.identifies) == 2, 10, "a second IDENTIFY")
    await fake.wait_for_ready()
    assert [r["session_id"] for r in fake.resumes] == [old] and fake.invalid_sessions == [old]
    assert len(fake.identifies) == 2 and fake.shard_sessions[0].id != old
    after = await fake.invoke_command("citadel", subcommand="diana")
    assert (await after.wait_response())["data"]["embeds"][0]["title"] == "Citadel: Diana"


@pytest.mark.asyncio
async def test_op7_reconnect_makes_the_client_resume(bot: Bot) -> None:
    fake = bot.fake
    await fake.send_reconnect()
    session = await fake.wait_for_resume()
    assert session.id == fake.resumes[0]["session_id"]
    assert len(fake.identifies) == 1
    rec = await fake.invoke_command("citadel", subcommand="where")
    assert (await rec.wait_response())["type"] == 4


@pytest.mark.asyncio
async def test_each_shard_gets_its_own_guilds_and_interactions() -> None:
    async with FakeDiscord(4, recommended_shards=2) as fake:
        with fake.point_discord_py_here():
            bots = [Bot(fake, shard_id=i, shard_count=2) for i in range(2)]
            try:
                for shard, b in enumerate(bots):
                    await b.start(
                        expect_guilds=sum(1 for g in fake.guild_ids if shard_for_guild(g, 2) == shard)
                    )
                for shard, b in enumerate(bots):
                    assert {g.id for g in b.client.guilds} == {
                        g for g in fake.guild_ids if shard_for_guild(g, 2) == shard
                    }
                assert sorted(i["shard"] for i in fake.identifies) == [[0, 2], [1, 2]]
                gateway = await bots[0].client.http.get_bot_gateway()
                assert gateway[0] == 2 and gateway[1] == fake.gateway_url

                await bots[0].tree.sync()
                guild_on_shard_1 = next(g for g in fake.guild_ids if shard_for_guild(g, 2) == 1)
                rec = await fake.invoke_command("citadel", subcommand="where", guild_id=guild_on_shard_1)
                await rec.wait_response()
                assert rec.shard_id == 1
                assert bots[1].seen["where"]["shard"] == 1 and "where" not in bots[0].seen
            finally:
                for b in bots:
                    await b.close()


@pytest.mark.asyncio
async def test_raw_gateway_hello_heartbeat_compression_and_refusals(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{fake.gateway_url}?v=10&encoding=json") as ws:
            hello = await ws.receive_json(timeout=2)
            assert (hello["op"], hello["d"]["heartbeat_interval"]) == (10, 41250)
            await ws.send_json({"op": 1, "d": None})
            assert (await ws.receive_json(timeout=2))["op"] == 11
            await ws.send_json({"op": 6, "d": {"token": fake.token, "session_id": "nope", "seq": 3}})
            invalid = await ws.receive_json(timeout=2)
            assert (invalid["op"], invalid["d"]) == (9, False)
            await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 1, "properties": {}}})
            closing = await ws.receive(timeout=2)
            assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 4004)

        async with session.ws_connect(f"{fake.gateway_url}?v=10&encoding=json&compress=zlib-stream") as ws:
            inflate = zlib.decompressobj()
            frame = await ws.receive_bytes(timeout=2)
            assert frame.endswith(b"\x00\x00\xff\xff")  # Z_SYNC_FLUSH: one complete message per frame
            assert json.loads(inflate.decompress(frame))["op"] == 10
            await ws.send_json({"op": 1, "d": None})
            assert json.loads(inflate.decompress(await ws.receive_bytes(timeout=2)))["op"] == 11
    assert fake.invalid_sessions == ["nope"] and fake.resumes[0]["seq"] == 3
    assert [i["token"] for i in fake.identifies] == ["wrong"]


# --- REST basics --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_wrong_token_is_a_login_failure(fake: FakeDiscord) -> None:
    client = discord.Client(intents=INTENTS)
    try:
        with pytest.raises(discord.LoginFailure):
            await client.login("not-the-token")
    finally:
        await client.close()
    assert fake.requests[-1].path == "/users/@me" and fake.requests[-1].status == 401


@pytest.mark.asyncio
async def test_json_responses_carry_exact_content_type_and_ratelimit_headers(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bot {fake.token}"}
        async with session.get(f"{fake.api_base}/users/@me", headers=headers) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/json"
            assert int(resp.headers["X-RateLimit-Remaining"]) > 0 and resp.headers["X-RateLimit-Bucket"]
        async with session.get(f"{fake.api_base}/guilds/1/bans", headers=headers) as resp:
            assert resp.status == 404
            assert await resp.json() == {"message": "404: Not Found", "code": 0}
    assert fake.unknown_routes == [("GET", "/guilds/1/bans")]


# --- commands and interactions ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sync_records_the_command_set_with_stable_ids(bot: Bot) -> None:
    fake = bot.fake
    assert [s.scope for s in fake.syncs] == ["global"]
    (citadel,) = fake.commands("global")
    assert citadel["name"] == "citadel" and citadel["application_id"] == str(fake.application_id)
    subs = {o["name"]: o for o in citadel["options"]}
    assert subs["admin"]["type"] == 2 and subs["admin"]["options"][0]["name"] == "add"
    assert subs["show"]["options"][0]["autocomplete"] is True

    again = await bot.tree.sync()
    assert [c.id for c in again] == [int(citadel["id"])]
    assert fake.commands("global")[0]["version"] == citadel["version"]  # unchanged command, same version

    guild = discord.Object(fake.guild_ids[1])
    bot.tree.copy_global_to(guild=guild)
    guild_commands = await bot.tree.sync(guild=guild)
    assert fake.syncs[-1].scope == fake.guild_ids[1]
    assert guild_commands[0].guild_id == fake.guild_ids[1]
    assert guild_commands[0].id != int(citadel["id"])
    # A guild's own copy wins: the interaction carries its id and guild_id, as Discord sends it.
    rec = await fake.invoke_command("citadel", subcommand="where", guild_id=fake.guild_ids[1])
    assert rec.payload["data"]["id"] == str(guild_commands[0].id)
    assert rec.payload["data"]["guild_id"] == str(fake.guild_ids[1])
    await rec.wait_response()


@pytest.mark.asyncio
async def test_invoked_command_is_answered_with_an_embed(bot: Bot) -> None:
    fake = bot.fake
    tester = fake.make_user(4242, "someone")
    rec = await fake.invoke_command(
        "citadel", subcommand="diana", options={"detail": True, "count": 3, "who": tester["id"]}, locale="it"
    )
    body = await rec.wait_response()
    assert body["type"] == 4
    (embed,) = body["data"]["embeds"]
    assert embed["title"] == "Citadel: Diana" and embed["fields"][0]["value"] == "10 October 2024"
    assert body["data"]["allowed_mentions"] == {"parse": []}
    assert rec.latency is not None and 0 < rec.latency < 1
    assert bot.seen["diana"] == {"detail": True, "count": 3, "who": 4242}
    interaction: discord.Interaction = bot.seen["diana_interaction"]
    assert interaction.locale is discord.Locale.italian and interaction.guild_id == fake.guild_ids[0]
    assert interaction.permissions.send_messages and not interaction.permissions.administrator

    (sub,) = rec.payload["data"]["options"]
    assert sub["type"] == 1 and [(o["name"], o["type"]) for o in sub["options"]] == [
        ("detail", 5),
        ("count", 4),
        ("who", 6),
    ]
    channel_id = fake.guild(fake.guild_ids[0]).channel_id  # type: ignore[union-attr]  # guild() is None only for an unknown id
    (message,) = fake.messages[channel_id]
    assert message["embeds"][0]["title"] == "Citadel: Diana" and message["interaction_metadata"]["id"] == str(
        rec.id
    )


@pytest.mark.asyncio
async def test_autocomplete_returns_the_choices(bot: Bot) -> None:
    choices = await bot.fake.autocomplete("citadel", subcommand="show", option="entry", value="i")
    assert choices == [{"name": n.title(), "value": n} for n in ["italy", "india", "diana"]]
    assert bot.seen["autocomplete_current"] == "i"


@pytest.mark.asyncio
async def test_deferred_answer_edits_original_and_sends_followup(bot: Bot) -> None:
    rec = await bot.fake.invoke_command("citadel", subcommand="show", options={"entry": "diana"})
    assert (await rec.wait_response())["type"] == 5
    original = await rec.wait_original_edit()
    assert original["embeds"][0]["title"] == "Entry: diana" and not original["flags"] & (1 << 7)
    followup = await rec.wait_followup()
    assert followup["content"] == "More about diana" and followup["flags"] & FLAG_EPHEMERAL
    channel_messages = bot.fake.messages[rec.channel_id or 0]
    assert [m["id"] for m in channel_messages] == [original["id"]]  # ephemeral ones stay private


@pytest.mark.asyncio
async def test_second_callback_is_refused_with_40060(bot: Bot) -> None:
    fake = bot.fake
    rec = await fake.invoke_command("citadel", subcommand="twice")
    await rec.wait_response()
    url = f"{fake.api_base}/interactions/{rec.id}/{rec.token}/callback"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"type": 4, "data": {"content": "again"}}) as resp,
    ):
        assert resp.status == 400
        assert (await resp.json())["code"] == 40060
    assert rec.rejected == [(400, {"message": "Interaction has already been acknowledged.", "code": 40060})]
    assert rec.callback is not None and rec.callback["data"]["content"] == "first answer"


@pytest.mark.asyncio
async def test_callback_after_the_window_is_unknown_interaction(bot: Bot) -> None:
    fake = bot.fake
    fake.interaction_window = 0.1
    bot.seen["slow_delay"] = 0.25
    rec = await fake.invoke_command("citadel", subcommand="slow")
    status, body = await rec.wait_rejected()
    assert (status, body["code"]) == (404, 10062)
    await bot.commands_handled.wait(rec)  # the command saw the error and returned
    assert bot.seen["slow_error"].code == 10062
    assert rec.callback is None


@pytest.mark.asyncio
async def test_button_and_modal_round_trip(bot: Bot) -> None:
    fake = bot.fake
    rec = await fake.invoke_command("citadel", subcommand="menu")
    await rec.wait_response()
    assert (
        rec.original is not None and rec.original["components"][0]["components"][0]["custom_id"] == "suggest"
    )
    # discord.py registers the view only after its HTTP call returns: a person is never that quick.
    await bot.commands_handled.wait(rec)
    click = await fake.click_button(rec.original, "suggest")
    assert (await click.wait_response())["type"] == 9
    await bot.clicks_handled.wait(click)  # and the modal, likewise
    submit = await fake.submit_modal(click, {"fact": "Diana premiered in 2024"})
    assert (await submit.wait_response())["data"]["content"] == "Thanks!"
    assert bot.seen["suggested"] == "Diana premiered in 2024"


@pytest.mark.asyncio
async def test_dm_context_and_forged_commands(bot: Bot) -> None:
    fake = bot.fake
    rec = await fake.invoke_command("citadel", subcommand="where", guild_id=None)
    await rec.wait_response()
    assert bot.seen["where"]["guild"] is None and bot.seen["where"]["user"] == int(fake.tester["id"])
    assert rec.payload["context"] == 1 and "member" not in rec.payload
    assert rec.payload["authorizing_integration_owners"] == {"1": fake.tester["id"]}

    with pytest.raises(CommandNotSynced):
        await fake.invoke_command("nuke")
    forged = await fake.invoke_command("nuke", command_id=fake.snowflake(), options={"all": True})
    assert forged.payload["data"]["options"] == [{"name": "all", "type": 5, "value": True}]
    with pytest.raises(TimeoutError):
        await forged.wait_response(timeout=0.3)  # discord.py's tree drops unknown commands


# --- validation and limits ----------------------------------------------------------------------------


async def post_a_257_character_title(fake: FakeDiscord) -> tuple[discord.HTTPException, int]:
    """What discord.py gets back for an embed title over 256 characters, and the channel it was for."""
    client = discord.Client(intents=INTENTS)
    try:
        await client.login(fake.token)
        channel_id = fake.guild(fake.guild_ids[0]).channel_id  # type: ignore[union-attr]  # guild() is None only for an unknown id
        with (
            handle_message_parameters(embed=discord.Embed(title="x" * 257)) as params,
            pytest.raises(discord.HTTPException) as caught,
        ):
            await client.http.send_message(channel_id, params=params)
    finally:
        await client.close()
    return caught.value, channel_id


@pytest.mark.asyncio
async def test_embed_title_over_256_is_refused_as_invalid_form_body(fake: FakeDiscord) -> None:
    refused, channel_id = await post_a_257_character_title(fake)
    assert refused.status == 400 and refused.code == 50035
    (invalid,) = fake.invalid_requests
    assert invalid.method == "POST" and invalid.path == f"/channels/{channel_id}/messages"
    assert [p.path for p in invalid.problems] == [("embeds", 0, "title")]
    assert fake.messages[channel_id] == []


@pytest.mark.asyncio
async def test_the_spec_says_why_in_its_own_words(fake: FakeDiscord) -> None:
    if fake.spec is None:
        pytest.skip(openapi.SPEC_OFF)
    await post_a_257_character_title(fake)
    (invalid,) = fake.invalid_requests
    assert "too long" in invalid.messages[0]  # jsonschema's wording: the spec, not only the fake's limits


@pytest.mark.asyncio
async def test_edit_over_6000_embed_characters_is_refused_and_recorded(bot: Bot) -> None:
    fake = bot.fake
    rec = await fake.invoke_command("citadel", subcommand="twice")
    await rec.wait_response()
    # Every part is within its own limit; together they are 6147 characters.
    fields = [{"name": "n", "value": "v" * 1024}, {"name": "n", "value": "v" * 1024}]
    edit = {"embeds": [{"title": "t", "description": "d" * 4096, "fields": fields}]}
    url = f"{fake.api_base}/webhooks/{fake.application_id}/{rec.token}/messages/@original"
    async with aiohttp.ClientSession() as session, session.patch(url, json=edit) as resp:
        status, error = resp.status, await resp.json()
    assert (status, error["code"], error["message"]) == (400, 50035, "Invalid Form Body")
    assert error["errors"]["embeds"]["_errors"][0]["code"] == "MAX_EMBED_SIZE_EXCEEDED"
    assert [(i.method, i.path) for i in fake.invalid_requests] == [("PATCH", url.split("/api/v10")[1])]
    assert rec.original_edits == [] and rec.original is not None and rec.original["content"] == "first answer"
    fake.invalid_requests.clear()  # expected here; the fixture asserts nothing else was invalid


def test_real_discord_py_payloads_pass_the_spec() -> None:
    spec = openapi.load_spec()
    if spec is None:
        pytest.skip(openapi.SPEC_OFF)

    def problems(method: str, path: str, body: Any) -> list[openapi.Problem]:
        op = spec.find(method, path)
        assert op is not None, path
        return spec.check(op, body) + openapi.discord_limits(method, op.template, body)

    client = discord.Client(intents=INTENTS)
    tree = app_commands.CommandTree(client)
    build_tree(tree, {})

    @tree.context_menu(name="Report Message")
    async def report(interaction: discord.Interaction, message: discord.Message) -> None:
        pass

    @tree.command(name="settings", description="Server settings")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @app_commands.choices(
        mode=[app_commands.Choice(name="Off", value=0), app_commands.Choice(name="On", value=1)]
    )
    async def settings(
        interaction: discord.Interaction,
        mode: int,
        channel: discord.TextChannel,
        role: discord.Role | None = None,
    ) -> None:
        pass

    commands = [c.to_dict(tree) for c in tree.get_commands()]
    assert problems("PUT", "/applications/1/commands", commands) == []
    assert problems("PUT", "/applications/1/guilds/2/commands", commands) == []

    embed = discord.Embed(
        title="T", description="D", url="https://example.com", timestamp=discord.utils.utcnow()
    )
    embed.add_field(name="f", value="v").set_footer(text="foot").set_author(name="a")
    mentions = discord.AllowedMentions(users=[discord.Object(5)], roles=False, everyone=False)
    view = SuggestView({})
    callbacks = [
        interaction_message_response_params(
            type=4, embed=embed, allowed_mentions=mentions, view=view
        ).payload,
        {"type": 5, "data": {"flags": 64}},
        interaction_message_response_params(type=7, content="updated", embeds=[embed]).payload,
        {"type": 8, "data": {"choices": [app_commands.Choice(name="Italy", value="italy").to_dict()]}},
        {"type": 9, "data": SuggestModal({}).to_dict()},
    ]
    for body in callbacks:
        assert problems("POST", "/interactions/1/tok/callback", body) == [], body
    with handle_message_parameters(
        content="hi", embed=embed, nonce="a1", allowed_mentions=mentions
    ) as params:
        assert problems("POST", "/channels/3/messages", params.payload) == []
        assert problems("POST", "/webhooks/1/tok", params.payload) == []
        assert problems("PATCH", "/webhooks/1/tok/messages/@original", params.payload) == []
    assert problems("POST", "/users/@me/channels", {"recipient_id": 12345}) == []


def test_limits_the_spec_does_not_encode_are_enforced() -> None:
    def limits(method: str, template: str, body: Any) -> set[tuple[tuple[str | int, ...], str]]:
        return {(p.path, p.code) for p in openapi.discord_limits(method, template, body)}

    callback = "/interactions/{interaction_id}/{interaction_token}/callback"
    too_many = {"type": 8, "data": {"choices": [{"name": f"c{i}", "value": str(i)} for i in range(26)]}}
    assert limits("POST", callback, too_many) == {(("data", "choices"), "BASE_TYPE_MAX_LENGTH")}
    long_name = {"type": 8, "data": {"choices": [{"name": "n" * 101, "value": "v"}]}}
    assert limits("POST", callback, long_name) == {(("data", "choices", 0, "name"), "BASE_TYPE_BAD_LENGTH")}
    assert limits("POST", "/channels/{channel_id}/messages", {"content": "x" * 2001}) == {
        (("content",), "BASE_TYPE_MAX_LENGTH")
    }
    big = {"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]}
    assert limits("POST", "/channels/{channel_id}/messages", big) == {
        (("embeds",), "MAX_EMBED_SIZE_EXCEEDED")
    }

    commands = "/applications/{application_id}/commands"
    bad = [
        {"name": "Citadel", "description": "d", "type": 1},
        {"name": "ok", "description": "", "type": 1},
        {
            "name": "opts",
            "description": "d",
            "options": [{"name": "bad name", "description": "x" * 101, "type": 3}],
        },
        {"name": "Report Message", "type": 3},  # context menus may use capitals and spaces
    ]
    assert limits("PUT", commands, bad) == {
        ((0, "name"), "APPLICATION_COMMAND_INVALID_NAME"),
        ((1, "description"), "BASE_TYPE_BAD_LENGTH"),
        ((2, "options", 0, "name"), "APPLICATION_COMMAND_INVALID_NAME"),
        ((2, "options", 0, "description"), "BASE_TYPE_BAD_LENGTH"),
    }
    assert openapi.is_valid_command_name("città-2") and not openapi.is_valid_command_name("a" * 33)
    tree = openapi.error_tree([openapi.Problem(("embeds", 0, "title"), "BASE_TYPE_MAX_LENGTH", "too long")])
    assert tree == {
        "embeds": {"0": {"title": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "too long"}]}}}
    }


# --- messages and injected failures -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_same_nonce_twice_creates_one_message(fake: FakeDiscord) -> None:
    client = discord.Client(intents=INTENTS)
    try:
        await client.login(fake.token)
        channel_id = fake.guild(fake.guild_ids[0]).channel_id  # type: ignore[union-attr]  # guild() is None only for an unknown id
        channel = client.get_partial_messageable(channel_id)
        first = await channel.send("Countdown: 3 days", nonce="delivery-17")
        retry = await channel.send("Countdown: 3 days", nonce="delivery-17")
        other = await channel.send("Countdown: 2 days", nonce="delivery-18")
    finally:
        await client.close()
    assert first.id == retry.id != other.id
    assert [m["content"] for m in fake.messages[channel_id]] == ["Countdown: 3 days", "Countdown: 2 days"]
    assert fake.requests[-1].json["enforce_nonce"] is True
    assert fake.invalid_requests == []


@pytest.mark.asyncio
async def test_a_dm_opens_once_per_user_and_closed_dms_refuse_each_message_with_50007(
    fake: FakeDiscord,
) -> None:
    open_to, closed_to = fake.make_user(username="open"), fake.make_user(username="closed")
    fake.closed_dms.add(int(closed_to["id"]))
    client = discord.Client(intents=INTENTS)
    try:
        await client.login(fake.token)
        first = await client.http.start_private_message(int(open_to["id"]))
        again = await client.http.start_private_message(int(open_to["id"]))
        sent = await client.get_partial_messageable(int(first["id"])).send("Diana premieres in 7 days")
        closed = await client.http.start_private_message(int(closed_to["id"]))  # opening still works
        with pytest.raises(discord.Forbidden) as refused:
            await client.get_partial_messageable(int(closed["id"])).send("Diana premieres in 7 days")
    finally:
        await client.close()
    assert first["id"] == again["id"] != closed["id"]  # one DM channel per user, as on Discord
    assert first["type"] == 1 and first["recipients"] == [open_to]
    assert [m["id"] for m in fake.messages[int(first["id"])]] == [str(sent.id)]
    assert (refused.value.status, refused.value.code, refused.value.text) == (
        403, 50007, "Cannot send messages to this user",
    )  # fmt: skip
    assert int(closed["id"]) not in fake.messages and fake.invalid_requests == []


@pytest.mark.asyncio
async def test_injected_channel_failures_and_rate_limits(fake: FakeDiscord) -> None:
    channel_ids = [fake.guild(g).channel_id for g in fake.guild_ids]  # type: ignore[union-attr]  # guild() is None only for an unknown id
    fake.fail_channel(channel_ids[0], "missing_permissions")
    fake.fail_channel(channel_ids[1], "unknown_channel")
    fake.inject_rate_limit(f"/channels/{channel_ids[2]}/messages", retry_after=0.05, method="POST")
    client = discord.Client(intents=INTENTS)
    try:
        await client.login(fake.token)
        with pytest.raises(discord.Forbidden) as forbidden:
            await client.get_partial_messageable(channel_ids[0]).send("x")
        with pytest.raises(discord.NotFound) as missing:
            await client.get_partial_messageable(channel_ids[1]).send("x")
        sent = await client.get_partial_messageable(channel_ids[2]).send("after a 429")
    finally:
        await client.close()
    assert forbidden.value.code == 50013 and missing.value.code == 10003
    statuses = [r.status for r in fake.requests if r.path == f"/channels/{channel_ids[2]}/messages"]
    assert statuses == [429, 200]  # discord.py waited and retried by itself
    assert fake.messages[channel_ids[2]][0]["id"] == str(sent.id)


@pytest.mark.asyncio
async def test_multipart_payload_json_is_validated_too(fake: FakeDiscord) -> None:
    client = discord.Client(intents=INTENTS)
    channel_id = fake.guild(fake.guild_ids[0]).channel_id  # type: ignore[union-attr]  # guild() is None only for an unknown id
    try:
        await client.login(fake.token)
        channel = client.get_partial_messageable(channel_id)
        with pytest.raises(discord.HTTPException) as caught:
            await channel.send(
                file=discord.File(io.BytesIO(b"hi"), "a.txt"), embed=discord.Embed(title="x" * 257)
            )
        sent = await channel.send("with a file", file=discord.File(io.BytesIO(b"hello"), "hello.txt"))
    finally:
        await client.close()
    assert caught.value.code == 50035
    assert [p.path for p in fake.invalid_requests[0].problems] == [("embeds", 0, "title")]
    assert len(fake.invalid_requests) == 1
    assert sent.attachments[0].filename == "hello.txt" and sent.attachments[0].size == 5


# --- emulated rate limits -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_discord_py_rides_out_emulated_rate_limits_and_delivers_everything_once() -> None:
    # Discord's global limit as is (50/s); the per-channel window cut from 5 s to 1 s so that twelve
    # messages to one channel need two waits of a second rather than two of five.
    async with FakeDiscord(1, rate_limits=RateLimits(message_window=1.0)) as fake:
        with fake.point_discord_py_here():
            guild_id = fake.guild_ids[0]
            busy = fake.guild(guild_id).channel_id  # type: ignore[union-attr]  # guild() is None only for an unknown id
            others = [int((await fake.add_text_channel(guild_id, f"c{i}"))["id"]) for i in range(120)]
            client = discord.Client(intents=INTENTS)
            try:
                await client.login(fake.token)
                loop = asyncio.get_running_loop()
                started = loop.time()
                sends = [client.get_partial_messageable(busy).send(f"busy {i}") for i in range(12)]
                sends += [client.get_partial_messageable(c).send(f"to {c}") for c in others]
                sent = await asyncio.wait_for(asyncio.gather(*sends), 20)
                elapsed = loop.time() - started
            finally:
                await client.close()

    assert sorted(m["content"] for m in fake.messages[busy]) == sorted(f"busy {i}" for i in range(12))
    assert all([m["content"] for m in fake.messages[c]] == [f"to {c}"] for c in others)
    assert len({m.id for m in sent}) == 132
    scopes = Counter(scope for _, _, scope, _ in fake.rate_limited)
    assert scopes["global"] > 0  # 132 sends at once against 50 a second: discord.py waited and retried
    assert scopes["user"] == 0  # it read the bucket headers and never overran a channel's bucket
    posts = fake.request_times["POST /channels/{channel_id}/messages"]
    assert len(posts) == 132 + scopes["global"]  # every 429 was retried, nothing was sent twice
    # 133 requests (with the login) at 50 a second take three windows, so at least two seconds.
    assert elapsed >= 2.0
    assert fake.invalid_requests == [] and fake.errors == []


@pytest.mark.asyncio
async def test_emulated_rate_limits_answer_with_discords_headers_and_bodies(fake: FakeDiscord) -> None:
    auth = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as session:
        # Off by default (the fixture's fake): twenty posts to one channel in a row all go through.
        channel = fake.guild(fake.guild_ids[0]).channel_id  # type: ignore[union-attr]  # guild() is None only for an unknown id
        for i in range(20):
            async with session.post(
                f"{fake.api_base}/channels/{channel}/messages", json={"content": str(i)}, headers=auth
            ) as resp:
                assert resp.status == 200
        assert fake.rate_limited == [] and fake.rate_limiter is None

        async with FakeDiscord(2, rate_limits=True) as limited:
            first, second = (limited.guild(g).channel_id for g in limited.guild_ids)  # type: ignore[union-attr]  # guild() is None only for an unknown id
            answers = []
            for i in range(6):
                async with session.post(
                    f"{limited.api_base}/channels/{first}/messages", json={"content": str(i)}, headers=auth
                ) as resp:
                    answers.append((resp.status, resp.headers.copy(), await resp.json()))
            async with session.post(
                f"{limited.api_base}/channels/{second}/messages", json={"content": "x"}, headers=auth
            ) as resp:
                other = (resp.status, resp.headers.copy())

    assert [status for status, _, _ in answers] == [200] * 5 + [429]
    assert [h["X-RateLimit-Remaining"] for _, h, _ in answers[:5]] == ["4", "3", "2", "1", "0"]
    assert {h["X-RateLimit-Limit"] for _, h, _ in answers} == {"5"}
    bucket = answers[0][1]["X-RateLimit-Bucket"]
    assert {h["X-RateLimit-Bucket"] for _, h, _ in answers} == {bucket}
    for _, headers, _ in answers:
        reset_after = float(headers["X-RateLimit-Reset-After"])
        assert 0 < reset_after <= 5
        assert abs(float(headers["X-RateLimit-Reset"]) - (time.time() + reset_after)) < 1

    _, headers, body = answers[5]
    assert body["global"] is False and body["code"] == 0 and body["message"] == "You are being rate limited."
    assert 0 < body["retry_after"] <= 5
    assert headers["Retry-After"] == str(math.ceil(body["retry_after"]))
    assert (headers["X-RateLimit-Scope"], headers["X-RateLimit-Remaining"]) == ("user", "0")
    assert headers["Via"]  # without it discord.py takes a 429 for a Cloudflare ban and gives up
    assert "X-RateLimit-Global" not in headers
    assert [m["content"] for m in limited.messages[first]] == ["0", "1", "2", "3", "4"]
    assert [(m, p, scope) for m, p, scope, _ in limited.rate_limited] == [
        ("POST", f"/channels/{first}/messages", "user")
    ]
    # Another channel is another bucket, under the same route hash (as Discord sends it).
    assert other[0] == 200 and other[1]["X-RateLimit-Remaining"] == "4"
    assert other[1]["X-RateLimit-Bucket"] == bucket


@pytest.mark.asyncio
async def test_global_rate_limit_spares_interaction_callbacks_and_webhooks() -> None:
    async with (
        FakeDiscord(1, rate_limits=RateLimits(global_limit=3, global_window=0.5)) as fake,
        aiohttp.ClientSession() as session,
    ):
        auth = {"Authorization": f"Bot {fake.token}"}
        statuses = []
        for _ in range(4):
            async with session.get(f"{fake.api_base}/users/@me", headers=auth) as resp:
                statuses.append(resp.status)
                headers, body = resp.headers.copy(), await resp.json()
        # Token-authorised routes are exempt: they answer on their merits (here: unknown token), never 429.
        exempt = []
        for _ in range(5):
            async with session.post(
                f"{fake.api_base}/webhooks/{fake.application_id}/nope", json={"content": "x"}
            ) as r:
                exempt.append(r.status)
            async with session.post(f"{fake.api_base}/interactions/1/nope/callback", json={"type": 1}) as r:
                exempt.append(r.status)
        await asyncio.sleep(body["retry_after"])  # what a client must do (simulated, not a wait for anything)
        async with session.get(f"{fake.api_base}/users/@me", headers=auth) as resp:
            after_wait = resp.status

    assert statuses == [200, 200, 200, 429] and after_wait == 200
    assert body == {
        "message": "You are being rate limited.",
        "retry_after": body["retry_after"],
        "global": True,
        "code": 0,
    }
    assert 0 < body["retry_after"] <= 0.5
    assert (headers["X-RateLimit-Global"], headers["X-RateLimit-Scope"]) == ("true", "global")
    assert headers["Via"] and headers["Retry-After"] == "1"
    assert "X-RateLimit-Bucket" not in headers  # a global limit is no route's bucket
    assert 429 not in exempt and set(exempt) == {404}
    assert [(m, p, scope) for m, p, scope, _ in fake.rate_limited] == [("GET", "/users/@me", "global")]


# --- members, permissions, channels -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_fetched_member_and_overwrites_give_the_permissions_the_fake_enforces(bot: Bot) -> None:
    fake, client = bot.fake, bot.client
    assert client.user is not None
    spec = fake.guild(fake.guild_ids[0])
    assert spec is not None
    guild = client.get_guild(spec.id)
    assert guild is not None
    no_send = await fake.add_text_channel(spec.id, "no-send", deny_bot=SEND_MESSAGES)
    no_embeds = await fake.add_text_channel(spec.id, "no-embeds", deny_bot=EMBED_LINKS, on="member")
    hidden = await fake.add_text_channel(spec.id, "hidden", deny_bot=VIEW_CHANNEL)
    ids = [int(c["id"]) for c in (no_send, no_embeds, hidden)]
    await fake.wait_for_dispatches_read()  # CHANNEL_CREATE in the cache
    assert all(guild.get_channel(i) for i in ids)

    me = await guild.fetch_member(client.user.id)
    assert [r.id for r in me.roles] == [spec.id, spec.bot_role_id]  # @everyone and the managed role
    channels = [guild.get_channel(spec.channel_id), *(guild.get_channel(i) for i in ids)]
    general, send_denied, embeds_denied, invisible = (c.permissions_for(me) for c in channels)  # type: ignore[union-attr]  # get_channel() is None only for an uncached id (asserted above)
    assert general.view_channel and general.send_messages and general.embed_links
    assert general.manage_events and not general.mention_everyone and not general.administrator
    assert send_denied.view_channel and not send_denied.send_messages
    assert embeds_denied.send_messages and not embeds_denied.embed_links
    assert not invisible.view_channel and not invisible.send_messages and not invisible.read_message_history
    # discord.py and the fake compute the same numbers from the same roles and overwrites.
    assert [c.permissions_for(me).value for c in channels] == [fake.permissions_in(c.id) for c in channels]  # type: ignore[union-attr]  # as above
    assert general.value & MANAGE_EVENTS

    await channels[0].send(embed=discord.Embed(title="allowed"))  # type: ignore[union-attr]  # as above
    await channels[2].send("plain text needs no Embed Links")  # type: ignore[union-attr]  # as above
    refusals = []
    for channel, kwargs in [
        (channels[1], {"content": "x"}),
        (channels[2], {"embed": discord.Embed(title="x")}),
        (channels[3], {"content": "x"}),
    ]:
        with pytest.raises(discord.Forbidden) as refused:
            await channel.send(**kwargs)  # type: ignore[union-attr]  # as above
        refusals.append((refused.value.code, refused.value.text))
    assert refusals == [
        (50013, "Missing Permissions"),
        (50013, "Missing Permissions"),
        (50001, "Missing Access"),
    ]
    assert [len(fake.messages[c.id]) for c in channels] == [1, 0, 1, 0]  # type: ignore[union-attr]  # as above

    fake.set_member_roles(spec.id, int(fake.tester["id"]), [spec.bot_role_id])
    tester = await guild.fetch_member(int(fake.tester["id"]))
    assert tester.name == "tester" and [r.id for r in tester.roles] == [spec.id, spec.bot_role_id]
    with pytest.raises(discord.NotFound) as unknown:
        await guild.fetch_member(123456789012345678)
    assert (unknown.value.code, unknown.value.text) == (10007, "Unknown Member")

    await fake.delete_channel(ids[0])
    await fake.wait_for_dispatches_read()  # CHANNEL_DELETE in the cache
    assert guild.get_channel(ids[0]) is None
    with pytest.raises(discord.NotFound) as gone:
        await client.get_partial_messageable(ids[0]).send("x")
    assert gone.value.code == 10003
    assert str(ids[0]) not in [c["id"] for c in fake.guild_payload(spec.id)["channels"]]  # type: ignore[index]  # guild_payload() is None only for an unknown id


# --- scheduled events ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_scheduled_events_round_trip_without_dispatches_the_bot_did_not_ask_for(bot: Bot) -> None:
    fake, client = bot.fake, bot.client
    guild = client.get_guild(fake.guild_ids[0])
    assert guild is not None
    start = (discord.utils.utcnow() + dt.timedelta(days=3)).replace(microsecond=0)
    event = await guild.create_scheduled_event(
        name="Citadel: Diana premieres",
        description="Everything known: /citadel diana",
        start_time=start,
        end_time=start + dt.timedelta(hours=2),
        entity_type=discord.EntityType.external,
        location="Prime Video",
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    stored = fake.scheduled_events[guild.id][event.id]
    assert stored["scheduled_start_time"] == start.isoformat() and stored["status"] == 1
    assert (stored["entity_type"], stored["channel_id"], stored["entity_metadata"]) == (
        3,
        None,
        {"location": "Prime Video"},
    )
    assert stored["creator_id"] == str(fake.bot_user_id) and stored["privacy_level"] == 2
    assert (event.location, event.end_time, event.creator_id) == (
        "Prime Video",
        start + dt.timedelta(hours=2),
        fake.bot_user_id,
    )
    assert [e.id for e in await guild.fetch_scheduled_events()] == [event.id]

    later = start + dt.timedelta(days=1)
    moved = await event.edit(start_time=later, end_time=later + dt.timedelta(hours=2))
    assert moved.start_time == later and stored["scheduled_start_time"] == later.isoformat()
    with pytest.raises(discord.HTTPException) as skipped:  # scheduled -> completed is not allowed
        await client.http.edit_scheduled_event(guild.id, event.id, status=3)
    assert skipped.value.code == 50035
    ended = await (await moved.start()).end()
    assert ended.status is discord.EventStatus.completed
    with pytest.raises(discord.HTTPException) as finished:
        await client.http.edit_scheduled_event(guild.id, event.id, name="again")
    assert (finished.value.status, finished.value.code) == (400, 180000)

    with pytest.raises(discord.HTTPException) as no_end:
        await client.http.create_guild_scheduled_event(
            guild.id,
            name="x",
            privacy_level=2,
            entity_type=3,
            entity_metadata={"location": "Prime Video"},
            scheduled_start_time=start.isoformat(),
        )
    assert no_end.value.code == 50035
    with pytest.raises(discord.HTTPException) as no_location:
        await client.http.create_guild_scheduled_event(
            guild.id,
            name="x",
            privacy_level=2,
            entity_type=3,
            entity_metadata={"location": ""},
            scheduled_start_time=start.isoformat(),
            scheduled_end_time=later.isoformat(),
        )
    assert no_location.value.code == 50035
    assert [[p.path for p in i.problems] for i in fake.invalid_requests] == [
        [("status",)],
        [("scheduled_end_time",)],
        [("entity_metadata", "location")],
    ]
    fake.invalid_requests.clear()  # expected here; the fixture asserts nothing else was invalid

    cancelled = await (
        await guild.create_scheduled_event(
            name="Season 2",
            start_time=later,
            end_time=later + dt.timedelta(hours=1),
            entity_type=discord.EntityType.external,
            location="Prime Video",
            privacy_level=discord.PrivacyLevel.guild_only,
        )
    ).cancel()
    assert cancelled.status is discord.EventStatus.cancelled
    await cancelled.delete()
    with pytest.raises(discord.NotFound) as deleted:
        await guild.fetch_scheduled_event(cancelled.id)
    assert deleted.value.code == 10070 and list(fake.scheduled_events[guild.id]) == [event.id]


@pytest.mark.asyncio
async def test_a_server_holds_at_most_100_uncompleted_events_whoever_made_them(bot: Bot) -> None:
    fake, client = bot.fake, bot.client
    guild = client.get_guild(fake.guild_ids[0])
    assert guild is not None
    start = (discord.utils.utcnow() + dt.timedelta(days=3)).replace(microsecond=0)
    organiser = fake.make_user(4242, "organiser")
    made = [
        await fake.add_scheduled_event(guild.id, organiser, f"Watch party {n}", start) for n in range(100)
    ]

    async def create() -> discord.ScheduledEvent:
        return await guild.create_scheduled_event(
            name="Citadel: Diana premieres",
            start_time=start,
            end_time=start + dt.timedelta(hours=2),
            entity_type=discord.EntityType.external,
            location="Prime Video",
            privacy_level=discord.PrivacyLevel.guild_only,
        )

    with pytest.raises(discord.HTTPException) as full:
        await create()
    assert (full.value.status, full.value.code, full.value.text) == (
        400,
        30038,
        "Maximum number of uncompleted guild scheduled events reached (100)",
    )
    listed = await guild.fetch_scheduled_events()
    assert len(listed) == 100 and {e.creator_id for e in listed} == {4242}
    fake.scheduled_events[guild.id][int(made[0]["id"])]["status"] = 3  # a completed one does not count
    assert (await create()).creator_id == fake.bot_user_id
    assert fake.uncompleted_events(guild.id) == 100
    # The bot asked for no GUILD_SCHEDULED_EVENTS intent (1<<16), so Discord sent it none of this.
    assert not [e for e in fake.dispatch_counts if e.startswith("GUILD_SCHEDULED_EVENT")]
    assert list(guild.scheduled_events) == []


@pytest.mark.asyncio
async def test_scheduled_event_dispatches_and_permissions(fake: FakeDiscord) -> None:
    intents = discord.Intents.none()
    intents.guilds = intents.guild_scheduled_events = True
    async with running_bot(fake, intents=intents) as listener:
        guild = listener.client.get_guild(fake.guild_ids[0])
        assert guild is not None
        start = discord.utils.utcnow() + dt.timedelta(days=1)
        event = await guild.create_scheduled_event(
            name="Citadel",
            start_time=start,
            end_time=start + dt.timedelta(hours=1),
            entity_type=discord.EntityType.external,
            location="Prime Video",
            privacy_level=discord.PrivacyLevel.guild_only,
        )
        await fake.wait_for_dispatches_read()  # the CREATE dispatch
        assert guild.get_scheduled_event(event.id) is not None
        await event.edit(name="Citadel: Diana")
        await fake.wait_for_dispatches_read()
        assert guild.get_scheduled_event(event.id).name == "Citadel: Diana"  # type: ignore[union-attr]  # None only if the dispatch was missed, which would fail here anyway
        await event.delete()
        await fake.wait_for_dispatches_read()
        assert guild.get_scheduled_event(event.id) is None
        assert [
            fake.dispatch_counts[f"GUILD_SCHEDULED_EVENT_{k}"] for k in ("CREATE", "UPDATE", "DELETE")
        ] == [1, 1, 1]

        # Without Manage Events (or Create Events) Discord refuses with 403 50013.
        fake.bot_permissions &= ~MANAGE_EVENTS
        with pytest.raises(discord.Forbidden) as refused:
            await guild.create_scheduled_event(
                name="x",
                start_time=start,
                end_time=start + dt.timedelta(hours=1),
                entity_type=discord.EntityType.external,
                location="y",
                privacy_level=discord.PrivacyLevel.guild_only,
            )
        assert refused.value.code == 50013


# --- scale --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_message_post_costs_the_fake_the_same_however_much_it_already_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fake's own time per POST (validation on), measured inside its handler: 1,000 posts into an
    empty fake, then 1,000 more once it holds 20,000 more messages, request records and nonces."""
    spent: list[float] = []
    handle = rest.RestAPI.handle

    async def timed(self: rest.RestAPI, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        began = time.perf_counter()
        try:
            return await handle(self, request)
        finally:
            spent.append(time.perf_counter() - began)

    monkeypatch.setattr(rest.RestAPI, "handle", timed)  # before the fake binds its handler
    embed = {
        "title": "Citadel: Diana",
        "description": "d" * 300,
        "fields": [{"name": "Premiere", "value": "10 October 2024"}],
    }
    async with FakeDiscord(1, rate_limits=RateLimits(global_limit=10**6, message_limit=10**6)) as fake:
        channel = fake.guild(fake.guild_ids[0]).channel_id  # type: ignore[union-attr]  # guild() is None only for an unknown id
        url = f"{fake.api_base}/channels/{channel}/messages"
        auth = {"Authorization": f"Bot {fake.token}"}
        async with aiohttp.ClientSession() as session:

            async def post(count: int) -> list[float]:
                first = len(spent)
                for _ in range(count):
                    n = len(fake.requests)
                    body = {"content": f"post {n}", "embeds": [embed], "nonce": str(n), "enforce_nonce": True}
                    async with session.post(url, json=body, headers=auth) as resp:
                        assert resp.status == 200
                return spent[first:]

            await post(100)  # warm-up: validators compiled, connection open
            empty = await post(1000)
            # What 20,000 more posts would have left behind, without spending the time to send them.
            message, record, now = fake.messages[channel][-1], fake.requests[-1], time.time()
            for i in range(20_000):
                fake.store_message(dict(message, id=str(fake.snowflake())))
                fake.requests.append(dataclasses.replace(record))
                fake.nonces[(fake.bot_user_id, f"earlier-{i}")] = (now, message)
            full = await post(1000)

    assert len(fake.messages[channel]) == 22_100 and fake.invalid_requests == []
    if fake.spec is None:  # validation against the spec is the bulk of the cost being measured
        pytest.skip(openapi.SPEC_OFF)
    print(
        f"fake per POST: {statistics.mean(empty) * 1e3:.3f} ms empty, {statistics.mean(full) * 1e3:.3f} ms full"
    )
    assert statistics.median(empty + full) < 0.005  # ~0.5 ms here, most of it jsonschema
    # O(1) per request: anything that walked the stored messages, records or nonces would add >1 ms.
    assert statistics.mean(full) < 1.5 * statistics.mean(empty) + 0.0002


# --- separate process ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_runs_as_a_separate_process_with_a_control_api() -> None:
    # Keep the parent's path too: the child must import what this process imports (e.g. zstandard).
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fake_discord",
        "--port",
        "0",
        "--guilds",
        "2",
        "--token",
        "cli-token",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    old = Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    client: discord.Client | None = None
    task: asyncio.Task[None] | None = None
    try:
        assert proc.stdout is not None
        info = json.loads(await asyncio.wait_for(proc.stdout.readline(), 15))
        Route.BASE = info["api_base"]
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(info["gateway_url"])
        client = discord.Client(intents=INTENTS, guild_ready_timeout=0.05)
        tree = app_commands.CommandTree(client)
        build_tree(tree, {})
        await client.login("cli-token")
        task = asyncio.create_task(client.connect())
        control = info["control_base"]
        async with aiohttp.ClientSession() as session:
            # READY and every GUILD_CREATE sent, then read by the client: asked of the fake's process.
            for step in ("ready", "dispatches_read"):
                async with session.get(f"{control}/{step}", params={"shard": "0", "timeout": "10"}) as resp:
                    assert resp.status == 200, await resp.text()
            assert len(client.guilds) == 2
            await tree.sync()
            payload = {"name": "citadel", "subcommand": "diana", "options": {"count": 2}}
            async with session.post(f"{control}/invoke", json=payload) as resp:
                answer = await resp.json()
            assert resp.status == 200, answer
            assert answer["response"]["data"]["embeds"][0]["title"] == "Citadel: Diana"
            async with session.get(f"{control}/state") as resp:
                state = await resp.json()
        assert (
            state["syncs"][0]["commands"] == 1 and state["invalid_requests"] == [] and state["errors"] == []
        )
        assert state["identifies"][0]["intents"] == INTENTS.value
    finally:
        if client is not None:
            await client.close()
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
        Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old
        proc.terminate()
        await proc.wait()
