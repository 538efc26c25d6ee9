"""Moderators curating the canon through the fake Discord: every command, the bad-input table and the
security cases. Counts of revisions and rows are exact; refusals leave the store byte for byte as it was."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from bot.client import CitadelBot
from bot.config import Settings
from tests.fake_discord import FakeDiscord, InteractionRecord
from tests.fake_discord.payloads import FLAG_EPHEMERAL
from tests.harness import (
    EDITOR_ROLE_ID,
    HOME,
    MANAGE_GUILD,
    OTHER,
    assert_ephemeral_line,
    fields_of,
    handled,
    running_bot,
)
from tests.store_probe import select

NO_PERMISSIONS = 0
SOURCE = "https://example.org/citadel-news"


def dump(where: Path | str) -> list[tuple[Any, ...]]:
    """Every row the curation touches, for 'the store is exactly as it was'."""
    rows: list[tuple[Any, ...]] = []
    for table in ("entries", "facts", "revisions", "suggestions"):
        rows += [(table, *row) for row in select(where, f"SELECT * FROM {table} ORDER BY id")]
    return rows


def count(where: Path | str, table: str, condition: str = "TRUE") -> int:
    [(number,)] = select(where, f"SELECT count(*) FROM {table} WHERE {condition}")
    return int(str(number))


class Moderators:
    """Users of the home server, as the fake sends them."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.ana = fake.make_user(1001, "ana")  # Manage Server
        self.ben = fake.make_user(1002, "ben")  # Manage Server
        self.eve = fake.make_user(1003, "eve")  # the editor role, no Manage Server
        self.max = fake.make_user(1004, "max")  # a member with neither

    async def run(
        self,
        group: str,
        sub: str,
        user: dict[str, Any] | None = None,
        *,
        guild_id: int = HOME.id,
        **options: Any,
    ) -> InteractionRecord:
        user = user or self.ana
        permissions, roles = {
            "1001": (MANAGE_GUILD, ()),
            "1002": (MANAGE_GUILD, ()),
            "1003": (NO_PERMISSIONS, (EDITOR_ROLE_ID,)),
        }.get(user["id"], (NO_PERMISSIONS, ()))
        return await self.fake.invoke_command(
            group,
            subcommand=sub,
            options=options,
            guild_id=guild_id,
            user=user,
            permissions=permissions,
            roles=roles,
        )

    async def answer(
        self, group: str, sub: str, user: dict[str, Any] | None = None, **options: Any
    ) -> dict[str, Any]:
        return await (await self.run(group, sub, user, **options)).wait_response()


@pytest.fixture
def mods(fake: FakeDiscord) -> Moderators:
    return Moderators(fake)


def stored_answer(response: dict[str, Any], line: str) -> dict[str, str]:
    """A moderator's answer: one line saying what was stored, and the entry as fans will see it."""
    assert response["type"] == 4, response
    data = response["data"]
    assert data["flags"] & FLAG_EPHEMERAL and data["allowed_mentions"] == {"parse": []}
    assert data["content"].startswith("Revision #") and line in data["content"], data["content"]
    (embed,) = data["embeds"]
    return fields_of(embed)


def buttons(message: dict[str, Any]) -> dict[str, str]:
    return {c["label"]: c["custom_id"] for row in message.get("components", []) for c in row["components"]}


# --- facts ------------------------------------------------------------------------------------------


async def test_add_edit_remove_and_revert_a_fact(
    bot: CitadelBot, mods: Moderators, settings: Settings
) -> None:
    db = settings.database
    revisions = count(db, "revisions")
    record = await mods.fake.invoke_command("citadel", subcommand="diana")  # an answer to keep
    assert fields_of((await record.wait_response())["data"]["embeds"][0])["Episodes"].startswith("6 [")

    fields = stored_answer(
        await mods.answer(
            "fact", "add", entry="diana", field="cast", value="Jane Doe as Agent Nine", source=SOURCE
        ),
        "added Cast “Jane Doe — Agent Nine”",
    )
    assert "Jane Doe — Agent Nine [" in fields["Cast"]

    fields = stored_answer(
        await mods.answer(
            "fact",
            "edit",
            entry="diana",
            field="episodes",
            value="7",
            source=SOURCE,
            source_date="2026-11-01",
        ),
        "Episodes now says “7”",
    )
    assert fields["Episodes"].startswith("7 [")
    # Fans see the edit at once: the answer kept from before the edit is not served again.
    record = await mods.fake.invoke_command("citadel", subcommand="diana")
    assert fields_of((await record.wait_response())["data"]["embeds"][0])["Episodes"].startswith("7 [")

    fields = stored_answer(
        await mods.answer(
            "fact",
            "remove",
            entry="diana",
            field="filming_location",
            item="Paris",
            reason="not in the source",
        ),
        "removed Filmed in “Paris”",
    )
    assert "Paris" not in fields["Filmed in"]
    assert count(db, "revisions") == revisions + 3
    removal = count(db, "revisions")  # the id of the last one

    fields = stored_answer(await mods.answer("fact", "revert", revision=removal), f"reverted #{removal}")
    assert "Paris [" in fields["Filmed in"]
    assert count(db, "revisions") == revisions + 4

    history = select(db, "SELECT action, who, reason FROM revisions ORDER BY id DESC LIMIT 4")
    assert history == [
        ("add", "ana (1001)", f"revert of #{removal}"),
        ("remove", "ana (1001)", "not in the source"),
        ("edit", "ana (1001)", ""),
        ("add", "ana (1001)", ""),
    ]


async def test_a_value_left_out_opens_a_form_and_edit_shows_the_current_value(
    bot: CitadelBot, mods: Moderators, fake: FakeDiscord, settings: Settings
) -> None:
    record = await mods.run("fact", "add", entry="diana", field="notes", source=SOURCE)
    form = (await record.wait_response())["data"]
    assert (await record.wait_response())["type"] == 9 and form["title"] == "Add Notes"
    long_note = "A long note. " * 35  # 455 characters: more than a person types into a slash option
    submitted = await fake.submit_modal(
        record, {"value": long_note, "source": SOURCE, "source_date": "October 2024"}
    )
    fields = stored_answer(await submitted.wait_response(), "added Notes")
    assert long_note.strip()[:100] in fields["Notes"]

    record = await mods.run("fact", "edit", entry="diana", field="showrunner")
    form = (await record.wait_response())["data"]
    inputs = {c["custom_id"]: c for row in form["components"] for c in row["components"]}
    assert inputs["value"]["value"] == "Gina Gardini"
    assert inputs["source"]["value"].startswith("https://pinkvilla.com/")
    assert inputs["source_date"]["value"] == "2024-07-17"


async def test_history_pages_with_buttons(bot: CitadelBot, mods: Moderators, fake: FakeDiscord) -> None:
    for n in range(7):
        await mods.answer("fact", "edit", entry="diana", field="episodes", value=str(10 + n), source=SOURCE)
    record = await mods.run("fact", "history", entry="diana", field="episodes")
    response = await record.wait_response()
    assert response["data"]["flags"] & FLAG_EPHEMERAL
    (embed,) = response["data"]["embeds"]
    assert embed["description"] == "Page 1 of 2 · 8 revisions"
    newest = embed["fields"][0]
    assert newest["name"].endswith("· edit · Episodes")
    assert "by ana (1001)" in newest["value"] and "“15” → “16”" in newest["value"]
    assert "source: example.org" in newest["value"]

    await handled(fake, record)  # discord.py registers the view once the answer is sent: a person is slower
    click = await fake.click_button(
        record.original, buttons(record.original)["Older ▶"], user=mods.ana, permissions=MANAGE_GUILD
    )
    turned = await click.wait_response()
    assert turned["type"] == 7
    assert turned["data"]["embeds"][0]["description"] == "Page 2 of 2 · 8 revisions"
    assert "“6” → “10”" in turned["data"]["embeds"][0]["fields"][1]["value"]
    assert "by canon" in turned["data"]["embeds"][0]["fields"][-1]["value"]


async def test_two_moderators_editing_the_same_fact_lose_nothing(
    bot: CitadelBot, mods: Moderators, fake: FakeDiscord, settings: Settings
) -> None:
    db = settings.database
    before = count(db, "revisions")
    ana_form = await mods.run("fact", "edit", mods.ana, entry="diana", field="episodes")
    ben_form = await mods.run("fact", "edit", mods.ben, entry="diana", field="episodes")
    await ana_form.wait_response(), await ben_form.wait_response()

    ana, ben = await asyncio.gather(
        fake.submit_modal(ana_form, {"value": "7", "source": SOURCE, "source_date": ""}),
        fake.submit_modal(ben_form, {"value": "8", "source": SOURCE, "source_date": ""}),
    )
    answers = [(await ana.wait_response())["data"]["content"], (await ben.wait_response())["data"]["content"]]
    won = [a for a in answers if a.startswith("Revision #")]
    lost = [a for a in answers if a.startswith("Someone changed this fact")]
    assert len(won) == 1 and len(lost) == 1, answers
    assert "Nothing was changed; run the command again" in lost[0]
    assert count(db, "revisions") == before + 1

    # The one who lost opens the form again, sees the winner's value, and saves on top of it.
    loser = mods.ben if "by ana" in lost[0] else mods.ana
    winner_value = "7" if loser is mods.ben else "8"
    retry = await mods.run("fact", "edit", loser, entry="diana", field="episodes")
    form = (await retry.wait_response())["data"]
    assert form["components"][0]["components"][0]["value"] == winner_value
    saved = await fake.submit_modal(retry, {"value": "9", "source": SOURCE, "source_date": ""})
    stored_answer(await saved.wait_response(), "Episodes now says “9”")
    rows = [
        tuple(json.loads(text)["value"] if text else None for text in row)
        for row in select(
            db,
            "SELECT old, new FROM revisions WHERE field = 'episodes' "
            "AND entry_id = (SELECT id FROM entries WHERE slug = 'diana') ORDER BY id",
        )
    ]
    assert rows == [(None, "6"), ("6", winner_value), (winner_value, "9")]


# --- entries ----------------------------------------------------------------------------------------


async def test_entries_are_added_edited_removed_and_restored(
    bot: CitadelBot, mods: Moderators, fake: FakeDiscord, settings: Settings
) -> None:
    answer = await mods.answer(
        "entry", "add", slug="season-3", title="Citadel season 3", parent="mothership", aliases="S3, season 3"
    )
    assert "becomes `/citadel season-3` after the next command sync" in answer["data"]["content"]
    choices = await fake.autocomplete("citadel", subcommand="show", option="entry", value="season 3")
    assert choices[0] == {"name": "Citadel season 3", "value": "season-3"}  # at once, no restart

    stored_answer(
        await mods.answer("fact", "add", entry="season-3", field="status", value="announced", source=SOURCE),
        "Status",
    )
    stored_answer(
        await mods.answer("entry", "edit", entry="season-3", title="Citadel: Season Three"),
        "updated the entry",
    )

    refused = await mods.answer("entry", "remove", entry="season-3")
    assert_ephemeral_line(refused, "still has 1 fact.", "Nothing was changed")
    assert count(settings.database, "entries", "removed_at IS NULL") == 7

    record = await mods.run("entry", "remove", entry="season-3", force=True)
    prompt = await record.wait_response()
    assert "Remove “season-3” and its 1 facts?" in prompt["data"]["content"]
    await handled(fake, record)  # the view with the buttons is registered
    confirmed = await fake.click_button(
        record.original,
        buttons(record.original)["Remove the entry and its facts"],
        user=mods.ana,
        permissions=MANAGE_GUILD,
    )
    content = (await confirmed.wait_response())["data"]["content"]
    assert content.startswith("Revision #") and "removed the entry “season-3” and its facts" in content
    assert count(settings.database, "entries", "removed_at IS NULL") == 6
    choices = await fake.autocomplete("citadel", subcommand="show", option="entry", value="season 3")
    assert "season-3" not in [c["value"] for c in choices]

    revision = int(content.split("#")[1].split(":")[0])
    stored_answer(await mods.answer("fact", "revert", revision=revision), f"reverted #{revision}")
    assert count(settings.database, "entries", "removed_at IS NULL") == 7


# --- suggestions ------------------------------------------------------------------------------------


async def suggest(
    fake: FakeDiscord, user: dict[str, Any], value: str, guild_id: int = OTHER.id
) -> dict[str, Any]:
    record = await fake.invoke_command(
        "citadel",
        subcommand="suggest",
        options={"entry": "honey-bunny", "field": "filming_location", "value": value, "source": SOURCE},
        guild_id=guild_id,
        user=user,
    )
    response = await record.wait_response()
    await handled(fake, record)  # stored, posted for review, and the review post's id stored
    return response


async def test_a_suggestion_is_reviewed_approved_and_credited(
    bot: CitadelBot, mods: Moderators, fake: FakeDiscord, settings: Settings
) -> None:
    fan = fake.make_user(2001, "fan")
    line = assert_ephemeral_line(await suggest(fake, fan, "Belgrade"), "Thanks! Suggestion #1 is waiting")
    assert "DMs" in line
    (review,) = await fake.wait_for_message(HOME.channel_id, count=1)
    assert review["embeds"][0]["title"] == "Suggestion #1: Citadel: Honey Bunny · Filmed in"
    assert review["embeds"][0]["description"] == "Belgrade"
    assert buttons(review) == {"Approve": "suggestion:1:approve", "Reject": "suggestion:1:reject"}

    revisions = count(settings.database, "revisions")
    # Two moderators click Approve at the same moment: it is approved once.
    clicks = await asyncio.gather(
        fake.click_button(
            review, "suggestion:1:approve", user=mods.eve, roles=(EDITOR_ROLE_ID,), permissions=0
        ),
        fake.click_button(review, "suggestion:1:approve", user=mods.ana, permissions=MANAGE_GUILD),
    )
    eve_answer, ana_answer = [await click.wait_response() for click in clicks]
    approved, late = (eve_answer, ana_answer) if eve_answer["type"] == 7 else (ana_answer, eve_answer)
    assert_ephemeral_line(late, "Suggestion #1 was already approved.")
    assert count(settings.database, "revisions") == revisions + 1
    assert approved["type"] == 7 and approved["data"]["components"] == []
    approver = "eve (1003)" if approved is eve_answer else "ana (1001)"
    decision = fields_of(approved["data"]["embeds"][0])["Decision"]
    assert decision.startswith(f"Approved by {approver}: revision #")

    [row] = select(
        settings.database, "SELECT value, added_by FROM facts WHERE field = 'filming_location' AND key = 'belgrade'"
    )
    assert row == ("Belgrade", f"fan (2001), suggestion #1 approved by {approver}")
    (told,) = await fake.wait_for_message(int(fake.dm_channel_for(fan)["id"]), count=1)
    assert told["content"].startswith(
        "Your suggestion #1 for Citadel: Honey Bunny (Filmed in: “Belgrade”) was approved"
    )


async def test_a_rejection_asks_for_a_reason_and_tells_the_suggester(
    bot: CitadelBot, mods: Moderators, fake: FakeDiscord, settings: Settings
) -> None:
    fan = fake.make_user(2002, "fan2")
    await suggest(fake, fan, "Atlantis")
    (review,) = await fake.wait_for_message(HOME.channel_id, count=1)
    click = await fake.click_button(review, "suggestion:1:reject", user=mods.ana, permissions=MANAGE_GUILD)
    assert (await click.wait_response())["type"] == 9
    submitted = await fake.submit_modal(click, {"reason": "No source says so."})
    rejected = await submitted.wait_response()
    assert rejected["type"] == 7
    assert (
        fields_of(rejected["data"]["embeds"][0])["Decision"]
        == "Rejected by ana (1001)\nReason: No source says so."
    )
    assert count(settings.database, "facts", "key = 'atlantis'") == 0
    (told,) = await fake.wait_for_message(int(fake.dm_channel_for(fan)["id"]), count=1)
    assert told["content"].endswith("was not accepted. Reason: No source says so.")


async def test_review_buttons_work_after_a_restart_and_closed_dms_break_nothing(
    settings: Settings, fake: FakeDiscord, mods: Moderators
) -> None:
    fan = fake.make_user(2003, "fan3")
    async with running_bot(settings, fake):
        await suggest(fake, fan, "Novi Sad")
        (review,) = await fake.wait_for_message(HOME.channel_id, count=1)
    fake.inject_failure(
        "/channels/*/messages",
        403,
        {"message": "Cannot send messages to this user", "code": 50007},
        method="POST",
    )
    async with running_bot(settings, fake):
        approved = await (
            await fake.click_button(review, "suggestion:1:approve", user=mods.ana, permissions=MANAGE_GUILD)
        ).wait_response()
        assert fields_of(approved["data"]["embeds"][0])["Decision"].startswith("Approved by ana (1001)")
        assert count(settings.database, "facts", "key = 'novi sad'") == 1
        assert fake.messages.get(int(fake.dm_channel_for(fan)["id"]), []) == []


async def test_at_most_five_suggestions_an_hour(
    bot: CitadelBot, fake: FakeDiscord, settings: Settings
) -> None:
    fan = fake.make_user(2004, "eager")
    for n in range(5):
        assert_ephemeral_line(await suggest(fake, fan, f"Place {n}"), f"Suggestion #{n + 1} is waiting")
    await fake.wait_for_message(HOME.channel_id, count=5)  # suggest() waited for each review post's id
    before = dump(settings.database)
    line = assert_ephemeral_line(await suggest(fake, fan, "Place 6"), "You can make 5 suggestions an hour.")
    assert "<t:" in line and ":R>" in line and "Nothing was stored." in line
    assert dump(settings.database) == before
    assert count(settings.database, "suggestions") == 5
    await fake.wait_for_message(HOME.channel_id, count=5)
    assert len(fake.messages[HOME.channel_id]) == 5


# --- security ---------------------------------------------------------------------------------------

EDITING_CALLS = [
    ("fact", "add", {"entry": "diana", "field": "notes", "value": "x", "source": SOURCE}),
    ("fact", "add", {"entry": "diana", "field": "notes", "source": SOURCE}),  # would open the form
    ("fact", "edit", {"entry": "diana", "field": "episodes", "value": "9", "source": SOURCE}),
    ("fact", "edit", {"entry": "diana", "field": "episodes"}),
    ("fact", "remove", {"entry": "diana", "field": "status"}),
    ("fact", "history", {"entry": "diana"}),
    ("fact", "revert", {"revision": 1}),
    ("entry", "add", {"slug": "season-9", "title": "Citadel season 9"}),
    ("entry", "edit", {"entry": "diana", "title": "Hacked"}),
    ("entry", "remove", {"entry": "spain", "force": True}),
]


async def test_members_without_manage_server_or_the_editor_role_are_refused_everything(
    bot: CitadelBot, mods: Moderators, settings: Settings
) -> None:
    before = dump(settings.database)
    for group, sub, options in EDITING_CALLS:
        # The fake delivers the command as if a server admin had overridden Discord's permissions.
        answer = await mods.answer(group, sub, mods.max, **options)
        assert_ephemeral_line(answer, "Only moderators can do that")
    assert dump(settings.database) == before


async def test_the_editor_role_is_enough(bot: CitadelBot, mods: Moderators) -> None:
    answer = await mods.answer(
        "fact", "add", mods.eve, entry="diana", field="notes", value="A note.", source=SOURCE
    )
    stored_answer(answer, "added Notes")


async def test_review_buttons_refuse_non_moderators(
    bot: CitadelBot, mods: Moderators, fake: FakeDiscord, settings: Settings
) -> None:
    await suggest(fake, fake.make_user(2005, "fan5"), "Kragujevac")
    (review,) = await fake.wait_for_message(HOME.channel_id, count=1)
    before = dump(settings.database)
    for custom_id in ("suggestion:1:approve", "suggestion:1:reject"):
        answer = await (
            await fake.click_button(review, custom_id, user=mods.max, permissions=0)
        ).wait_response()
        assert_ephemeral_line(answer, "Only moderators can do that")
    # A moderator of another server is not a moderator here.
    other_review = dict(review, channel_id=str(OTHER.channel_id))
    answer = await (
        await fake.click_button(other_review, "suggestion:1:approve", user=mods.ana, permissions=MANAGE_GUILD)
    ).wait_response()
    assert_ephemeral_line(answer, "only in the bot's home server")
    assert dump(settings.database) == before


async def test_editing_commands_exist_only_in_the_home_server(
    bot: CitadelBot, mods: Moderators, fake: FakeDiscord, settings: Settings
) -> None:
    assert fake.commands(OTHER.id) == []
    assert {c["name"] for c in fake.commands("global")} == {"citadel", "announce"}
    forged_id = next(int(c["id"]) for c in fake.commands(HOME.id) if c["name"] == "fact")
    before = dump(settings.database)
    record = await fake.invoke_command(
        "fact",
        subcommand="add",
        options={"entry": "diana", "field": "notes", "value": "forged", "source": SOURCE},
        guild_id=OTHER.id,
        user=mods.ana,
        permissions=MANAGE_GUILD,
        command_id=forged_id,
    )
    assert_ephemeral_line(await record.wait_response(), "isn't available here")
    assert dump(settings.database) == before


# --- bad input --------------------------------------------------------------------------------------

# (options for /fact add on Citadel: Diana, what the one ephemeral line must say)
BAD_INPUT = [
    ({"field": "notes", "value": "   "}, "The value for Notes is empty"),
    ({"field": "notes", "value": "x" * 501}, "is 501 characters long; the limit is 500"),
    ({"field": "premiere", "value": "2024-02-30"}, "does not exist: February 2024 has 29 days"),
    (
        {"field": "premiere", "value": "sometime soon"},
        "I can't read 'sometime soon' as a date; write it like 2024, Q2 2026",
    ),
    (
        {"field": "notes", "value": "ok", "source_date": "2024-13-01"},
        "The source date: Month 13 does not exist",
    ),
    ({"field": "notes", "value": "ok", "source_date": "2099-01-01"}, "The source date is in the future"),
    (
        {"field": "notes", "value": "ok", "source": "javascript:alert(1)"},
        "must be a web link starting with https://",
    ),
    (
        {"field": "notes", "value": "ok", "source": "ftp://files.example.org/x"},
        "must be a web link starting with https://",
    ),
    ({"field": "notes", "value": "ok", "source": "   "}, "The source is empty"),
    (
        {"field": "trailer", "value": "javascript:alert(1)"},
        "Trailer takes a web link that starts with https://",
    ),
    (
        {"field": "trailer", "value": "ftp://files.example.org/t.mp4"},
        "no other kind of address (http:, javascript:",
    ),
    (
        {"field": "trailer", "value": "http://example.org/trailer"},
        "Trailer takes a web link that starts with https://",
    ),
    (
        {"field": "trailer", "value": "Trailer out in May"},
        "Trailer takes a web link that starts with https://",
    ),
    ({"field": "notes", "value": "ok", "entry": "narnia"}, "I don't know an entry called “narnia”"),
    ({"field": "colour", "value": "red"}, "There is no field “colour”"),
    ({"field": "episodes", "value": "6"}, "Episodes already says “6”"),
    ({"field": "episodes", "value": "six"}, "Episodes takes a whole number such as 6"),
    ({"field": "status", "value": "delayed"}, "is not a status; use one of: announced, in production"),
    ({"field": "notes", "value": "Diana\u200breturns"}, "invisible or direction-changing character (U+200B)"),
    ({"field": "notes", "value": "\u202eseires eht"}, "invisible or direction-changing character (U+202E)"),
    ({"field": "notes", "value": "line\x00break"}, "contains control characters"),
    ({"field": "notes", "value": "🕵️" * 2000}, "is 4000 characters long; the limit is 500"),
]


@pytest.mark.parametrize(("options", "says"), BAD_INPUT, ids=[f"{i:02d}" for i in range(len(BAD_INPUT))])
async def test_bad_input_gets_one_line_and_changes_nothing(
    bot: CitadelBot, mods: Moderators, settings: Settings, options: dict[str, str], says: str
) -> None:
    before = dump(settings.database)
    call = {"entry": "diana", "source": SOURCE, **options}
    line = assert_ephemeral_line(await mods.answer("fact", "add", **call), says)
    assert line.endswith("Nothing was changed.")
    assert dump(settings.database) == before


TRICKS = [
    "@everyone and @here, look",
    "<@&123456789012345678> <@1001> <#123456789012345678>",
    "[a trusted link](https://evil.example/phish)",
    'Robert\'); DROP TABLE facts; -- "quoted" %_ \\',
    "مسلسل القلعة — ‏Citadel‏ בעברית",
]


@pytest.mark.parametrize("text", TRICKS)
async def test_mentions_markdown_and_sql_are_stored_as_written_and_ping_nobody(
    bot: CitadelBot, mods: Moderators, fake: FakeDiscord, settings: Settings, text: str
) -> None:
    if "\u200f" in text:
        text = text.replace(
            "\u200f", ""
        )  # the right-to-left mark is refused (see the table); RTL letters are fine
    response = await mods.answer("fact", "add", entry="diana", field="notes", value=text, source=SOURCE)
    fields = stored_answer(response, "added Notes")
    assert response["data"]["allowed_mentions"] == {"parse": []}
    [(stored,)] = select(settings.database, "SELECT value FROM facts WHERE field = 'notes' ORDER BY id DESC LIMIT 1")
    assert stored == " ".join(text.split())
    assert "link](https://evil" not in fields["Notes"]  # a masked link is shown as text (\[…\]), not made
    assert "\\@everyone" in fields["Notes"] or "@everyone" not in text
    # The same text reaches fans in /citadel diana without pinging anyone either.
    record = await fake.invoke_command("citadel", subcommand="diana")
    assert (await record.wait_response())["data"]["allowed_mentions"] == {"parse": []}


NASTY = "aZ09 ,.;:'\"`\\/<>@#&*_~|[](){}%$!?-—–\n\t\u200b\u202e\u0000🕵️👍🏽مرحباשלוםé\u0301ñ"


async def test_arbitrary_text_in_every_option_never_gets_past_the_command(
    bot: CitadelBot, mods: Moderators, fake: FakeDiscord
) -> None:
    rng = random.Random(7)
    for _ in range(30):

        def text() -> str:
            return "".join(rng.choice(NASTY) for _ in range(rng.randint(1, 120)))

        options = {"entry": rng.choice(["diana", text()]), "field": rng.choice(["notes", "cast", "premiere", text()]),
                   "value": text(), "source": rng.choice([SOURCE, text()]), "source_date": text()}  # fmt: skip
        for group, sub in (("fact", "add"), ("citadel", "suggest")):
            record = await fake.invoke_command(group, subcommand=sub, options=options, guild_id=HOME.id,
                                               user=mods.ana, permissions=MANAGE_GUILD)  # fmt: skip
            data = (await record.wait_response())["data"]
            assert data["flags"] & FLAG_EPHEMERAL and data["allowed_mentions"] == {"parse": []}
            assert "Something went wrong" not in data["content"], data["content"]


async def test_an_item_picked_from_autocomplete_is_edited_only_while_unchanged(
    bot: CitadelBot, mods: Moderators, fake: FakeDiscord, settings: Settings
) -> None:
    choices = await fake.autocomplete(
        "fact", subcommand="edit", option="item", value="par", options={"entry": "diana", "field": "filming_location"},
        guild_id=HOME.id, user=mods.ana, permissions=MANAGE_GUILD,
    )  # fmt: skip
    assert [c["name"] for c in choices] == ["Paris"]
    picked = choices[0]["value"]
    # ben gives Paris a newer source while ana is still typing
    stored_answer(
        await mods.answer("fact", "edit", mods.ben, entry="diana", field="filming_location", item=picked,
                          value="Paris", source="https://example.org/newer"),
        "Filmed in now says “Paris”",
    )  # fmt: skip
    before = dump(settings.database)
    stale = await mods.answer(
        "fact", "edit", entry="diana", field="filming_location", item=picked, value="Paris, France"
    )
    assert_ephemeral_line(
        stale, "Someone changed that Filmed in item after you picked it", "Nothing was changed"
    )
    assert dump(settings.database) == before


# --- confidence, and the sources of edits -----------------------------------------------------------


async def test_an_edit_names_the_source_of_a_new_value_and_confidence_is_an_edit(
    bot: CitadelBot, mods: Moderators, fake: FakeDiscord, settings: Settings
) -> None:
    db = settings.database
    before = dump(db)
    line = assert_ephemeral_line(
        await mods.answer("fact", "edit", entry="diana", field="episodes", value="7"),
        "Which source says Episodes is “7”? Give it in source:",
    )
    assert line.endswith("Nothing was changed.")
    assert dump(db) == before

    # Only the confidence: an edit like any other, kept with the value, source and date it had.
    fields = stored_answer(
        await mods.answer("fact", "edit", entry="diana", field="episodes", confidence="reported"),
        "Episodes now says “6”",
    )
    assert fields["Episodes"].startswith("6 _(reported, not confirmed)_ [")
    assert len(dump(db)) == len(before) + 1  # one revision more; nothing else changed in number
    [row] = select(
        db,
        "SELECT value, source, source_date, confidence FROM facts WHERE field = 'episodes' AND entry_id = "
        "(SELECT id FROM entries WHERE slug = 'diana')",
    )
    assert row == (
        "6",
        "https://ottplay.com/news/citadel-diana-trailer-prime-video/91cf177642121",
        "2024-09-11",
        "reported",
    )
    # History shows it like any other change; fans' answers mark it.
    record = await mods.run("fact", "history", entry="diana", field="episodes")
    (latest, *_) = (await record.wait_response())["data"]["embeds"][0]["fields"]
    assert "“6” → “6”" in latest["value"] and "confidence: confirmed → reported" in latest["value"]
    answer = await (await fake.invoke_command("citadel", subcommand="diana")).wait_response()
    assert fields_of(answer["data"]["embeds"][0])["Episodes"].startswith("6 _(reported, not confirmed)_ [")

    # A new value with its source; the source's date defaults to today for a source that is new.
    fields = stored_answer(
        await mods.answer("fact", "edit", entry="diana", field="trailer",
                          value="https://www.youtube.com/watch?v=abc123", source=SOURCE, confidence="confirmed"),
        "Trailer now says “https://www.youtube.com/watch?v=abc123”",
    )  # fmt: skip
    today = bot.clock().date().isoformat()
    assert fields["Trailer"].startswith(
        f"[Watch the trailer](<https://www.youtube.com/watch?v=abc123>) ({today}) ["
    )


async def test_a_rumour_is_marked_everywhere_fans_read_it_and_suggestions_are_reported(
    bot: CitadelBot, mods: Moderators, fake: FakeDiscord, settings: Settings
) -> None:
    stored_answer(
        await mods.answer("fact", "add", entry="diana", field="notes", value="A second season of Diana is in talks",
                          source=SOURCE, confidence="rumour"),
        "added Notes",
    )  # fmt: skip
    answer = await (await fake.invoke_command("citadel", subcommand="diana")).wait_response()
    notes = fields_of(answer["data"]["embeds"][0])["Notes"]
    assert "A second season of Diana is in talks _(rumour, not confirmed)_ [" in notes
    found = await (
        await fake.invoke_command("citadel", subcommand="search", options={"query": "second season of Diana"})
    ).wait_response()
    hits = "\n".join(f["value"] for f in found["data"]["embeds"][0]["fields"])
    assert "A second season of Diana is in talks _(rumour, not confirmed)_ (example.org, " in hits

    # A member's suggestion is reported unless they say otherwise.
    record = await fake.invoke_command("citadel", subcommand="suggest", guild_id=HOME.id, user=fake.make_user(2001, "fan"),
                                       options={"entry": "diana", "field": "filming_location", "value": "Turin", "source": SOURCE})  # fmt: skip
    await record.wait_response()
    await handled(fake, record)
    review = (await fake.wait_for_message(HOME.channel_id, count=3))[-1]  # after the two answers above
    assert review["embeds"][0]["title"] == "Suggestion #1: Citadel: Diana · Filmed in"
    assert fields_of(review["embeds"][0])["Confidence"] == "reported"
    assert select(settings.database, "SELECT confidence FROM suggestions") == [("reported",)]


async def test_an_entry_not_released_yet_says_so_for_its_trailer(bot: CitadelBot, fake: FakeDiscord) -> None:
    answer = await (await fake.invoke_command("citadel", subcommand="spain")).wait_response()
    assert fields_of(answer["data"]["embeds"][0])["Trailer"] == "not released yet"
    answer = await (await fake.invoke_command("citadel", subcommand="honey-bunny")).wait_response()
    assert fields_of(answer["data"]["embeds"][0])["Trailer"].startswith(
        "[Watch the trailer](<https://ndtv.com/"
    )
