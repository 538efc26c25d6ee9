"""The public page in a real browser: Debian's Chromium, headless, driven by Playwright, reading the page
the running bot serves on its HTTP port while it talks to the fake Discord.

Every test's page fails it on any console error, any script error, and any request that would leave
127.0.0.1 (such a request is stopped, not sent)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

from bot.__main__ import ask
from bot.client import CitadelBot
from bot.config import Settings
from bot.facts import Fact
from tests.fake_discord import FakeDiscord
from tests.harness import ROOT, free_port, make_settings
from tests.test_curation import Moderators
from tests.web_support import AXE, CHROMIUM, NO_AXE, NO_CHROMIUM, get

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason=NO_CHROMIUM)

ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1100, "height": 900}
SCREENSHOT = ROOT / "docs" / "web-diana.png"
SOURCE = "https://example.org/news"


@pytest.fixture
def settings(tmp_path: Path, canon_dir: Path, fake: FakeDiscord) -> Settings:
    return replace(make_settings(tmp_path, canon_dir, fake), http_port=free_port(), update_settle_seconds=0)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield launched
        await launched.close()


@dataclass
class Watched:
    """A browser tab and what went wrong in it."""

    page: Page
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.outside == [], self.outside


async def watched(context: BrowserContext) -> Watched:
    page = await context.new_page()
    tab = Watched(page)

    async def route(route: Route) -> None:
        url = route.request.url
        tab.requested.append(url)
        if urlsplit(url).hostname != "127.0.0.1":
            tab.outside.append(url)
            await route.abort()
        else:
            await route.continue_()

    await context.route("**/*", route)
    page.on("console", lambda message: tab.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    return tab


@pytest.fixture
async def tab(browser: Browser) -> AsyncIterator[Watched]:
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    opened = await watched(context)
    yield opened
    opened.assert_clean()
    await context.close()


def base_of(bot: CitadelBot) -> str:
    return f"http://127.0.0.1:{bot.settings.http_port}"


async def test_the_index_lists_every_entry_and_leads_to_it(bot: CitadelBot, tab: Watched) -> None:
    page = tab.page
    await page.goto(base_of(bot) + "/")
    rows = page.locator("table.entries tbody tr th a")
    assert await rows.all_inner_texts() == [entry.title for entry in bot.catalogue.entries]
    assert await rows.count() == 6
    await page.get_by_role("link", name="Citadel: Diana").click()
    await page.wait_for_url(base_of(bot) + "/entries/diana")
    assert await page.locator("h1").inner_text() == "Citadel: Diana"
    assert {urlsplit(u).path for u in tab.requested} == {"/", "/style.css", "/favicon.svg", "/entries/diana"}


def ask_lines(answer: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """From `python -m bot ask citadel diana`: its field names, its values (each without its [n]), its
    notes, and its sources ("label, date")."""
    lines = answer.splitlines()
    names, values, notes = [], [], []
    for line in lines[2:]:
        if not line.strip() or line.startswith("Sources: "):
            continue
        if line.startswith("      (") and line.endswith(")"):
            notes.append(line.strip()[1:-1])
            continue
        text = line.strip()
        if not line.startswith(" ") and re.match(r"^[A-Z][a-z ]+:", text) and not text.endswith("]"):
            names.append(text[:-1])  # "Cast:" with its values below
            continue
        if not line.startswith(" ") and (m := re.match(r"^([A-Z][a-z ]+): (.*\[\d+\])$", text)):
            names.append(m[1])
            text = m[2]
        values.append(re.sub(r" \[\d+\]$", "", text))
    sources = lines[-1].removeprefix("Sources: ").split(" · ")
    return names, values, notes, [re.sub(r"^\[\d+\] ", "", s) for s in sources]


async def test_the_diana_page_shows_every_fact_the_ask_cli_shows(bot: CitadelBot, tab: Watched) -> None:
    page = tab.page
    answer = await ask(bot.settings, ["citadel", "diana"])
    names, values, notes, sources = ask_lines(answer)
    facts = await bot.store.facts.for_entry("diana")
    assert len(values) == len(facts) and len(sources) == 10  # one line per fact
    await page.goto(base_of(bot) + "/entries/diana")
    assert await page.locator("dl.facts dt").all_inner_texts() == names[:]
    text = await page.locator("main").inner_text()
    trailer = await page.get_by_role("link", name="Watch the trailer").get_attribute("href")
    for value in values:
        if value.startswith("https://"):  # the trailer: a link on the page
            assert value.startswith(f"{trailer} (")
        else:
            assert value in text, value
    for note in notes:
        note = note.removeprefix("Trailer, ")  # the trailer's note, shown under its link
        assert note in text, note
    listed = await page.locator("ol.sources li").all_inner_texts()
    assert listed == sources
    await page.set_viewport_size({"width": 900, "height": 900})
    SCREENSHOT.parent.mkdir(exist_ok=True)
    await page.screenshot(path=SCREENSHOT, full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


async def test_a_spoiler_stays_hidden_until_clicked(bot: CitadelBot, tab: Watched) -> None:
    secret = "The mole is in the Citadel's own council"
    premiere = Fact("premiere", "2027-06-04", SOURCE, "2026-12-01")
    await bot.store.facts.edit("season-2", "premiere", "", premiere, "mod (1)")
    fact = Fact("notes", secret, SOURCE, "2026-12-01", key="council", spoiler=True)
    await bot.store.facts.add("season-2", fact, "mod (1)")
    page = tab.page
    await page.goto(base_of(bot) + "/entries/season-2")
    hidden = page.get_by_text(secret)
    assert await hidden.count() == 1 and not await hidden.is_visible()
    await page.locator("details", has_text=secret).get_by_text("Spoiler: click to show").click()
    assert await hidden.is_visible()


async def test_search_finds_catinari_from_the_header(bot: CitadelBot, tab: Watched) -> None:
    page = tab.page
    await page.goto(base_of(bot) + "/entries/mothership")
    box = page.get_by_role("searchbox", name="Search the facts")
    await box.fill("Catinari")
    await box.press("Enter")
    await page.wait_for_url(base_of(bot) + "/search?q=Catinari")
    hits = await page.locator("ol.hits li").all_inner_texts()
    assert hits[0].startswith("Citadel: Diana · Directed by: Arnaldo Catinari (pinkvilla.com, 2024-07-17)")
    assert len(hits) == 2 and await page.locator("h1").inner_text() == "Search: Catinari"


async def test_a_moderators_edit_shows_on_the_page_and_in_the_feed_at_once(
    bot: CitadelBot, fake: FakeDiscord, tab: Watched
) -> None:
    page = tab.page
    await page.goto(base_of(bot) + "/entries/diana")
    episodes = page.locator("dt#episodes + dd")
    assert (await episodes.inner_text()).startswith("6 [")
    await Moderators(fake).answer("fact", "edit", entry="diana", field="episodes", value="7", source=SOURCE)
    await page.reload()  # the first look after the moderator's answer: no waiting, no polling
    assert (await episodes.inner_text()).startswith("7 [")
    await bot.announcer.settled()  # the batch closes (UPDATE_SETTLE_SECONDS=0 here)
    async with aiohttp.ClientSession() as http:
        feed = (await get(http, base_of(bot) + "/feed.atom")).text
    assert "Episodes: 6 → 7 (example.org, " in feed


# --- accessibility --------------------------------------------------------------------------------


def axe_script() -> str:
    return AXE.read_text()


@pytest.mark.skipif(not AXE.is_file(), reason=NO_AXE)
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_axe_finds_nothing_serious_or_critical(
    bot: CitadelBot, browser: Browser, viewport: Any
) -> None:
    # axe is a script: this context alone lets it in past the page's Content-Security-Policy.
    context = await browser.new_context(viewport=viewport, bypass_csp=True)
    tab = await watched(context)
    found = {}
    for path in ("/", "/entries/diana", "/entries/season-2", "/entries/diana/history", "/search?q=milan"):
        await tab.page.goto(base_of(bot) + path)
        await tab.page.add_script_tag(content=axe_script())
        violations = await tab.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"
        )
        found[path] = [v for v in violations if v["impact"] in ("serious", "critical")]
    tab.assert_clean()
    await context.close()
    assert found == {path: [] for path in found}
