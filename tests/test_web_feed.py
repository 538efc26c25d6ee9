"""The Atom feed as a feed reader reads it (feedparser): the running bot, a server subscribed to update
posts in the fake Discord, moderators' edits through /fact edit; the feed carries one item per batch,
saying exactly what the update post of that batch said, with ids that never change."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import feedparser
import pytest

from bot.client import CitadelBot
from bot.config import Settings
from bot.facts import Fact
from bot.i18n import day_words
from tests.fake_discord import FakeDiscord
from tests.harness import HOME, free_port, make_settings
from tests.test_announce import set_premiere, subscribe
from tests.test_curation import Moderators
from tests.web_support import get

SOURCE = "https://example.org/news"
_TIMESTAMP = re.compile(r"<t:(\d+):D> \(<t:\d+:R>\)")


@pytest.fixture
def settings(tmp_path: Path, canon_dir: Path, fake: FakeDiscord) -> Settings:
    """Update posts as soon as a change is made (no settling), and the page on a port."""
    return replace(make_settings(tmp_path, canon_dir, fake), http_port=free_port(), update_settle_seconds=0)


def as_text(line: str) -> str:
    """An update post's line as plain text: Discord's bold, escapes and italics gone, a timestamp as the
    day it shows."""

    def day(match: re.Match[str]) -> str:
        return day_words(datetime.fromtimestamp(int(match[1]), UTC).date())

    line = _TIMESTAMP.sub(day, line)
    line = re.sub(r"\*\*(.+?)\*\*", r"\1", line)
    line = line.replace(" _(", " (").replace(")_", ")")
    return re.sub(r"\\(.)", r"\1", line)


def update_posts(fake: FakeDiscord) -> list[tuple[str, list[str]]]:
    """(title, lines) of every update post in the home server's channel, oldest first."""
    posts = []
    for message in fake.messages.get(HOME.channel_id, []):
        (embed,) = message["embeds"]
        lines = embed["description"].split("\n\n")[0].split("\n")
        posts.append((embed["title"], [as_text(line) for line in lines]))
    return posts


async def read_feed(http: aiohttp.ClientSession, url: str) -> Any:
    got = await get(http, url)
    assert got.status == 200 and got.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(got.body)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


async def edits_posted(bot: CitadelBot, fake: FakeDiscord, posts: int) -> None:
    await bot.announcer.settled()
    await fake.wait_for_message(HOME.channel_id, count=posts)


async def test_the_feed_says_what_the_update_posts_said_batch_by_batch(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    base = f"http://127.0.0.1:{bot.settings.http_port}"
    await subscribe(fake)
    mods = Moderators(fake)
    async with aiohttp.ClientSession() as http:
        empty = await read_feed(http, base + "/feed.atom")
        assert empty.entries == [] and empty.feed.title == "Citadel: what changed"

        await mods.answer("fact", "edit", entry="diana", field="episodes", value="7", source=SOURCE)
        await edits_posted(bot, fake, 1)
        await set_premiere(bot, "2027-03-05")  # Q2 2026 -> a day: "Premiere date confirmed"
        await edits_posted(bot, fake, 2)
        await set_premiere(bot, "2027-03-12", confidence="reported")
        await edits_posted(bot, fake, 3)
        fact = Fact("cast", "Jane Doe — Agent Nine", SOURCE, "2026-12-01", confidence="rumour")
        await bot.store.facts.add("diana", fact, "mod (1)")
        await edits_posted(bot, fake, 4)

        feed = await read_feed(http, base + "/feed.atom")
        posts = update_posts(fake)
        assert len(posts) == 4 and len(fake.messages[HOME.channel_id]) == 4
        items = [(e.title, e.content[0].value.split("\n")) for e in reversed(feed.entries)]
        assert items == posts  # the same batches, in the same words, oldest first
        assert items[1] == (
            "Premiere date confirmed: Citadel season 2",
            ["Premiere: expected Q2 2026, not confirmed → 5 March 2027 (example.org, 2026-11-20)"],
        )
        assert [e.content[0].type for e in feed.entries] == ["text/plain"] * 4
        assert [e.link for e in feed.entries] == [
            f"{base}/entries/{slug}" for slug in ("diana", "season-2", "season-2", "diana")
        ]
        ids = [e.id for e in feed.entries]
        assert len(set(ids)) == 4 and all(i.startswith("urn:uuid:") for i in ids)

        diana = await read_feed(http, base + "/entries/diana/feed.atom")
        assert [e.id for e in diana.entries] == [ids[0], ids[3]]
        assert diana.feed.title == "Citadel: Diana: what changed"

        await mods.answer("fact", "edit", entry="diana", field="episodes", value="8", source=SOURCE)
        await edits_posted(bot, fake, 5)
        later = await read_feed(http, base + "/feed.atom")
        assert [e.id for e in later.entries][1:] == ids  # an item's id never changes
        assert later.entries[0].content[0].value == "Episodes: 7 → 8 (example.org, " + _today() + ")"


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


async def test_the_feed_never_shows_a_spoiler(bot: CitadelBot, fake: FakeDiscord) -> None:
    base = f"http://127.0.0.1:{bot.settings.http_port}"
    await subscribe(fake)
    secret = "Diana was the mole all along"
    await bot.store.facts.add(
        "diana", Fact("notes", secret, SOURCE, "2026-12-01", key="twist", spoiler=True), "mod (1)"
    )
    await edits_posted(bot, fake, 1)
    async with aiohttp.ClientSession() as http:
        feed = await read_feed(http, base + "/feed.atom")
        body = (await get(http, base + "/feed.atom")).text
    assert (
        feed.entries[0].content[0].value
        == "Notes: added (a spoiler, not shown here) (example.org, 2026-12-01)"
    )
    assert secret not in body
