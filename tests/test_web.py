"""The public page over HTTP: what a visitor's browser, a feed reader or a calendar app receives, from the
real aiohttp app over a real store (alone, as `python -m bot web` serves it, and from the running bot
next to the fake Discord). The browser's view is tests/test_web_browser.py; the feed's and the
calendar's contents are tests/test_web_feed.py and tests/test_web_calendar.py."""

from __future__ import annotations

import signal
import socket
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from bot.client import CitadelBot
from bot.clock import utc_now
from bot.config import Settings
from bot.facts import Fact
from bot.i18n import reading, tr
from bot.render import Style
from bot.services import Catalogue
from bot.store import Store
from bot.web.language import negotiate
from bot.web.site import CSP
from tests.fake_discord import FakeDiscord
from tests.harness import TOKEN, ask, bot_process, embed_of, fields_of, finished, free_port, make_settings
from tests.store_probe import select, write
from tests.test_curation import Moderators
from tests.web_support import SECURITY, get, parse, serving

ENTRIES = ("mothership", "season-2", "diana", "honey-bunny", "spain", "mexico")
SOURCE = "https://example.org/hostile"
SCRIPT = "<script>alert('owned')</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
RTL = "\u202etxt.exe"  # a right-to-left override: shown as written, isolated from what follows


@pytest.fixture
async def page(seeded: Store) -> AsyncIterator[tuple[Store, str]]:
    async with serving(seeded) as base:
        yield seeded, base


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def addresses() -> list[str]:
    """Every kind of address the page answers, and some it does not."""
    paths = [
        "/",
        "/search",
        "/search?q=milan",
        "/search?q=zzzzqqq",
        "/feed.atom",
        "/calendar.ics",
        "/style.css",
    ]
    for slug in ENTRIES:
        paths += [f"/entries/{slug}", f"/entries/{slug}/history", f"/entries/{slug}/feed.atom"]
        paths.append(f"/entries/{slug}/calendar.ics")
    return [*paths, "/entries/nope", "/entries/diana/history?before=x", "/nowhere", "/favicon.svg"]


# --- headers, 304s and writing nothing ------------------------------------------------------------


async def test_every_answer_carries_the_security_headers_and_no_route_writes(
    page: tuple[Store, str], http: aiohttp.ClientSession, settings_path: Path | str
) -> None:
    _store, base = page
    # Another connection to the SQLite file: its data_version moves on any commit.
    watcher = sqlite3.connect(settings_path) if isinstance(settings_path, Path) else None
    version = watcher.execute("PRAGMA data_version").fetchone()[0] if watcher else None
    rows = {t: select(settings_path, f"SELECT count(*) FROM {t}") for t in ("facts", "revisions")}
    statuses = {}
    for path in addresses():
        got = await get(http, base + path, **{"Accept-Language": "it"})
        statuses[path] = got.status
        for name, value in SECURITY.items():
            assert got.headers.get(name) == value, (path, name)
        assert "frame-ancestors 'none'" in got.headers["Content-Security-Policy"]
        assert len(got.body) < 50_000, (path, len(got.body))
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        async with http.request(method, base + "/entries/diana") as response:
            assert response.status == 405
            assert response.headers["Content-Security-Policy"] == CSP
    assert {p for p, s in statuses.items() if s == 404} == {
        "/entries/nope", "/entries/diana/history?before=x", "/nowhere",
    }  # fmt: skip
    assert set(statuses.values()) == {200, 404}
    if watcher:
        assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
    assert {t: select(settings_path, f"SELECT count(*) FROM {t}") for t in rows} == rows


@pytest.fixture
def settings_path(store: Store) -> Path | str:
    return store.where  # the `store` fixture's file, or its PostgreSQL URL


async def test_an_unchanged_page_is_a_304_and_a_changed_one_is_not(
    page: tuple[Store, str], http: aiohttp.ClientSession
) -> None:
    store, base = page
    first = await get(http, base + "/entries/diana")
    tag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache" and first.headers["Vary"] == "Accept-Language"
    again = await get(http, base + "/entries/diana", **{"If-None-Match": tag})
    assert (again.status, again.body, again.headers["ETag"]) == (304, b"", tag)
    italian = await get(http, base + "/entries/diana", **{"If-None-Match": tag, "Accept-Language": "it"})
    assert italian.status == 200 and italian.headers["ETag"] != tag  # another language, another page

    await store.facts.edit("diana", "episodes", "", Fact("episodes", "7", SOURCE, "2026-12-01"), "mod (1)")
    changed = await get(http, base + "/entries/diana", **{"If-None-Match": tag})
    assert changed.status == 200 and changed.headers["ETag"] != tag
    assert "7" in parse(changed.text).text


# --- languages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        (None, None),
        ("", None),
        ("it-IT,it;q=0.9,en;q=0.8", "it"),
        ("en-GB,en;q=0.9,it;q=0.8", None),
        ("de;q=0.5, fr;q=0.9", "fr"),
        ("es-ES", "es-ES"),
        ("es", "es-ES"),
        ("es-MX,es;q=0.9", "es-419"),
        ("es-419", "es-419"),
        ("pt-PT", "pt-BR"),
        ("hi-IN", "hi"),
        ("ja,ko;q=0.9", None),
        ("ja, de;q=0.1", "de"),
        ("it;q=0, fr;q=0.2", "fr"),
        ("it;q=banana, de", "de"),
        ("*", None),
        (";;;,,,q=1", None),
    ],
)
def test_the_visitors_language_is_chosen_from_accept_language(header: str | None, locale: str | None) -> None:
    assert negotiate(header) == locale


async def test_pages_are_in_the_visitors_language_and_facts_stay_as_written(
    page: tuple[Store, str], http: aiohttp.ClientSession
) -> None:
    store, base = page
    english = parse((await get(http, base + "/entries/diana")).text)
    for header, lang in (("it-IT,it;q=0.9", "it"), ("hi", "hi"), ("es-AR", "es-419"), ("de-CH", "de")):
        got = await get(http, base + "/entries/diana", **{"Accept-Language": header})
        shown = parse(got.text)
        assert shown.all("html") == [{"lang": lang}]
        with reading(lang):
            label, what = tr("Episodes"), tr("What is known")
        assert label != "Episodes" and label in shown.text and what in shown.text
        for fact in await store.facts.for_entry("diana"):
            if fact.field in ("cast", "network", "filming_location"):
                assert fact.value in shown.text and fact.value in english.text
    index = parse((await get(http, base + "/", **{"Accept-Language": "ja"})).text)
    assert index.all("html") == [{"lang": "en"}]


# --- what the index and the entries show -----------------------------------------------------------


async def test_the_index_lists_every_entry_with_its_status_and_premiere(
    page: tuple[Store, str], http: aiohttp.ClientSession
) -> None:
    _store, base = page
    shown = parse((await get(http, base + "/")).text)
    links = [a["href"] for a in shown.all("a") if (a["href"] or "").startswith("/entries/")]
    assert links == [f"/entries/{slug}" for slug in ENTRIES]
    assert "Cancelled" in shown.text and "10 October 2024" in shown.text and "Q2 2026" in shown.text
    assert [a["href"] for a in shown.all("a") if (a["href"] or "").startswith("webcal:")] == [
        f"webcal://{base.split('://')[1]}/calendar.ics"
    ]


async def test_an_entry_page_has_the_same_fields_in_the_same_order_as_its_answer(
    page: tuple[Store, str], http: aiohttp.ClientSession
) -> None:
    store, base = page
    catalogue = Catalogue(store, utc_now)
    await catalogue.open()
    for slug in ENTRIES:
        entry = catalogue.resolve(slug)
        card = await catalogue.entry_card(entry, utc_now(), Style.TEXT)
        html = (await get(http, f"{base}/entries/{slug}")).text
        shown = parse(html)
        labels = [f.name for f in card.fields]
        dts = _between_all(html, "<dt", "</dt>")
        assert dts == labels, slug
        assert shown.all("h1") == [{}] and entry.title in shown.text
        sources = card.footer
        for number in range(1, sources.count("[") + 1):
            assert f'id="source-{number}"' in html
    catalogue.close()


def _between_all(html: str, start: str, end: str) -> list[str]:
    found = []
    for part in html.split(start)[1:]:
        inner = part.split(">", 1)[1].split(end, 1)[0]
        found.append(" ".join(parse(inner).text.split()))
    return found


async def test_season_2s_page_says_why_its_premiere_is_not_in_the_calendar(
    page: tuple[Store, str], http: aiohttp.ClientSession
) -> None:
    _store, base = page
    shown = parse((await get(http, base + "/entries/season-2")).text)
    assert "Not in the calendar: the premiere is known only to the quarter." in shown.text
    diana = parse((await get(http, base + "/entries/diana")).text)
    assert "Not in the calendar" not in diana.text


async def test_the_history_page_lists_revisions_newest_first_and_names_no_moderator(
    page: tuple[Store, str], http: aiohttp.ClientSession
) -> None:
    store, base = page
    await store.facts.edit("diana", "episodes", "", Fact("episodes", "7", SOURCE, "2026-12-01"), "ana (1001)")
    paris = next(f for f in await store.facts.for_entry("diana") if f.value == "Paris")
    revision = await store.facts.remove("diana", "filming_location", paris.key, "ana (1001)", "a reason")
    html = (await get(http, base + "/entries/diana/history")).text
    shown = parse(html)
    items = [attrs["id"] for attrs in shown.all("li") if (attrs.get("id") or "").startswith("revision-")]
    revisions = await store.history.for_entry("diana")
    assert items == [f"revision-{r.id}" for r in reversed(revisions)]
    assert items[0] == f"revision-{revision}"
    assert "ana (" not in shown.text and "1001" not in shown.text
    assert "a moderator" in shown.text and "Why: a reason" in shown.text
    assert "6 → 7" in shown.text and "Paris → —" in shown.text


async def test_a_long_history_is_paged(page: tuple[Store, str], http: aiohttp.ClientSession) -> None:
    store, base = page
    for n in range(60):
        fact = Fact("episodes", str(n + 10), SOURCE, "2026-12-01")
        await store.facts.edit("diana", "episodes", "", fact, "canon")
    revisions = await store.history.for_entry("diana")
    assert len(revisions) > 100
    seen, sizes, path = [], [], "/entries/diana/history"
    while path:
        shown = parse((await get(http, base + path)).text)
        ids = [a["id"] for a in shown.all("li") if (a.get("id") or "").startswith("revision-")]
        seen += ids
        sizes.append(len(ids))
        older = [a["href"] or "" for a in shown.all("a") if "before=" in (a["href"] or "")]
        path = older[0] if older else ""
    assert seen == [f"revision-{r.id}" for r in reversed(revisions)]  # every one, once, newest first
    assert sizes[:-1] == [50] * (len(sizes) - 1) and 0 < sizes[-1] <= 50


# --- search ---------------------------------------------------------------------------------------


async def test_search_finds_what_the_slash_command_finds(
    bot: CitadelBot, fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    base = f"http://127.0.0.1:{bot.settings.http_port}"
    for words in ("catinari", "milan", "De Angelis"):
        embed = embed_of(await ask(fake, "search", query=words))
        hits = [field["name"] for field in embed["fields"]]
        html = (await get(http, f"{base}/search?q={words}")).text
        items = _between_all(html, '<li><a href="/entries/', "</a>")
        fields = [line.split(" · ", 1)[1].split(":")[0] for line in _between_all(html, "<li>", "</li>")]
        assert [f"{title} · {field}" for title, field in zip(items, fields, strict=True)] == hits
    empty = parse((await get(http, f"{base}/search?q=zzzzqqq")).text)
    assert "No fact mentions “zzzzqqq”" in empty.text


async def test_the_bots_port_answers_healthz_and_metrics_with_the_same_headers(
    bot: CitadelBot, http: aiohttp.ClientSession
) -> None:
    base = f"http://127.0.0.1:{bot.settings.http_port}"
    for path in ("/healthz", "/metrics", "/", "/entries/diana", "/nowhere"):
        got = await get(http, base + path)
        assert got.status in (200, 404, 503), path
        for name, value in SECURITY.items():
            assert got.headers.get(name) == value, (path, name)
    assert (await get(http, base + "/entries/diana")).status == 200


# --- hostile facts --------------------------------------------------------------------------------


async def test_hostile_facts_render_as_text_everywhere(
    page: tuple[Store, str], http: aiohttp.ClientSession
) -> None:
    store, base = page
    hostile = (SCRIPT, BREAKOUT, RTL)
    for n, value in enumerate(hostile):
        await store.facts.add("diana", Fact("notes", value, SOURCE, "2026-12-01", key=f"h{n}"), "mod (1)")
    await store.facts.add(
        "diana",
        Fact("cast", f"{BREAKOUT} — {SCRIPT}", "javascript:alert(1)", "2026-12-01", key="hostile"),
        "mod (1)",
    )
    await store.facts.edit(
        "diana", "episodes", "", Fact("episodes", "7", SOURCE, "2026-12-01", note=SCRIPT), "mod (1)"
    )
    for path in ("/entries/diana", "/entries/diana/history", "/search?q=alert", "/search?q=" + SCRIPT):
        got = await get(http, base + path)
        shown = parse(got.text)
        assert not shown.all("script") and not shown.all("img"), path
        for _, attrs in shown.tags:
            assert not any(name.startswith("on") for name in attrs), (path, attrs)
            href = attrs.get("href")
            assert href is None or href.startswith(("/", "#", "https://", "webcal://", "http://127.0.0.1")), (
                href
            )
        if path != "/search?q=" + SCRIPT:
            assert SCRIPT in shown.text and BREAKOUT in shown.text, path
        assert "<script>" not in got.text and "<img" not in got.text
    page_text = (await get(http, base + "/entries/diana")).text
    assert f"<bdi>{RTL}</bdi>" in page_text  # isolated: it turns nothing around it
    for path in ("/feed.atom", "/calendar.ics"):
        assert "<script>" not in (await get(http, base + path)).text


# --- a store it cannot read -----------------------------------------------------------------------


async def test_a_store_the_page_cannot_read_is_one_line_and_a_503(
    page: tuple[Store, str], http: aiohttp.ClientSession, settings_path: Path | str
) -> None:
    _store, base = page
    if isinstance(settings_path, Path):
        with sqlite3.connect(settings_path) as db:
            for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
                db.execute(f"DROP TRIGGER {trigger}")
    write(settings_path, "ALTER TABLE facts RENAME TO facts_gone")  # as a broken or foreign store would have it
    got = await get(http, base + "/entries/mothership")
    assert got.status == 503 and got.headers["Retry-After"] == "60"
    assert "The page cannot read its facts right now; try again in a minute." in parse(got.text).text
    assert "Traceback" not in got.text and "sqlite" not in got.text.lower() and "postgres" not in got.text.lower()
    assert (await get(http, base + "/style.css")).status == 200  # and the server still answers


# --- the answers link to the page -----------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, canon_dir: Path, fake: FakeDiscord) -> Settings:
    """The bot with its HTTP port, and PUBLIC_URL set."""
    return replace(
        make_settings(tmp_path, canon_dir, fake),
        http_port=free_port(),
        public_url="https://citadel.example.org",
    )


async def test_answers_give_the_pages_links_and_webcal_address_with_public_url(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    about = embed_of(await ask(fake, "about"))
    assert about["description"].endswith(
        "On the web: https://citadel.example.org/\nEvery premiere in your calendar app: "
        "webcal://citadel.example.org/calendar.ics"
    )
    fields = fields_of(embed_of(await ask(fake, "diana")))
    assert list(fields)[-1] == "On the web"
    assert fields["On the web"] == (
        "Every fact with its source: https://citadel.example.org/entries/diana\n"
        "Its premiere in your calendar app: webcal://citadel.example.org/entries/diana/calendar.ics"
    )
    mods = Moderators(fake)
    stored = (await mods.answer("fact", "edit", entry="diana", field="episodes", value="7", source=SOURCE))[
        "data"
    ]
    assert "On the web" in fields_of(stored["embeds"][0])


# --- python -m bot web ----------------------------------------------------------------------------


async def test_python_m_bot_web_serves_the_page_alone_and_stops_on_sigterm(
    tmp_path: Path, canon_dir: Path, fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(tmp_path, canon_dir, fake)
    port = free_port()
    process = bot_process(settings, TOKEN, tmp_path, "web", HTTP_PORT=str(port), log_changes=fake.changes)
    log = tmp_path / "stderr.txt"
    await fake.changes.wait_for(
        lambda: log.exists() and "serving the public page" in log.read_text(), 20, "the page to be served"
    )
    got = await get(http, f"http://127.0.0.1:{port}/entries/diana")
    assert got.status == 200 and "Citadel: Diana" in parse(got.text).text
    assert fake.identifies == []  # it never went near Discord
    process.send_signal(signal.SIGTERM)
    _, err = await finished(process, tmp_path)
    assert process.returncode == 0, err
    assert err.strip().splitlines()[-1].endswith("the public page stopped on SIGTERM")


async def test_python_m_bot_web_without_a_port_or_with_a_taken_one_is_one_line(
    tmp_path: Path, canon_dir: Path, fake: FakeDiscord
) -> None:
    settings = make_settings(tmp_path, canon_dir, fake)
    process = bot_process(settings, TOKEN, tmp_path, "web")
    _, err = await finished(process, tmp_path)
    assert process.returncode == 2
    assert err.strip().splitlines() == [
        "citadel-bot: python -m bot web needs HTTP_PORT: set the port to serve the page on (and HTTP_HOST "
        "for the address, default 127.0.0.1)."
    ]
    with socket_taken() as port:
        process = bot_process(settings, TOKEN, tmp_path, "web", HTTP_PORT=str(port))
        _, err = await finished(process, tmp_path)
    assert process.returncode == 2
    assert err.strip().splitlines()[-1] == (
        f"citadel-bot: HTTP_PORT {port} is already in use on 127.0.0.1: stop what listens on 127.0.0.1:{port}, "
        "or set HTTP_PORT to a free port (or leave it empty and run the page with the bot)."
    )


@contextmanager
def socket_taken() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])
