"""The public page, served with aiohttp on HTTP_PORT beside /healthz and /metrics (or alone by
`python -m bot web`): read-only, from the same catalogue and store as the slash commands.

    /                               every entry, its status and next premiere
    /entries/<slug>                 what `/citadel <slug>` shows; spoilers open on a click
    /entries/<slug>/history         its revisions, newest first (?before=<revision> for older ones)
    /search?q=<words>               the hits of `/citadel search`
    /feed.atom, /entries/<slug>/feed.atom           the changes, as the update posts say them
    /calendar.ics, /entries/<slug>/calendar.ics     the premieres known to the day

Every page is in the visitor's language (Accept-Language), made from Jinja2 templates that escape every
value, loads nothing from elsewhere (its style sheet is /style.css; there is no script at all), and
carries a strict Content-Security-Policy. Pages are kept like the bot's answers (dropped when a fact or
an entry changes) and answered 304 to a browser that has the same one (ETag).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.clock import Clock
from bot.errors import CitadelError
from bot.facts import SPOILER_DAYS, Entry
from bot.i18n import N_, reader, reading, tr, trn
from bot.refusals import refusal
from bot.render import WebLinks
from bot.services.catalogue import Catalogue
from bot.store import Store, StoreError
from bot.store.revisions import ENTRY_FIELD
from bot.web.language import negotiate
from bot.web.pages import HISTORY_PAGE, entry_page, hit_views, index_row, revision_view

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# No script, no frame, nothing from elsewhere: the page's own style sheet and icon, forms to itself.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "interest-cohort=()",
}
HTML = "text/html; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
ICS = "text/calendar; charset=utf-8"
MAX_QUERY = 200  # characters of a search read; /citadel search takes 100
UNAVAILABLE = N_("The page cannot read its facts right now; try again in a minute.")
STATIC_FILES = {"style.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"}


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every answer of the HTTP port, pages, errors, /healthz and /metrics alike, carries the headers."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # 405s, and whatever aiohttp answers itself
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response


def etagged(request: web.Request, body: bytes, content_type: str, *, status: int = 200) -> web.Response:
    """The body with its ETag (a hash of it), or 304 when the browser already has that one. Browsers
    and readers ask again every time (no-cache): a page is only ever as old as the facts."""
    tag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    headers = {"ETag": tag, "Cache-Control": "no-cache", "Vary": "Accept-Language"}
    if status == 200 and tag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, status=status, headers={**headers, "Content-Type": content_type})


class Site:
    """The page's routes over one catalogue. `public_url` (PUBLIC_URL) names the site in links, the
    feed and the calendar; without it, the address the visitor used."""

    def __init__(self, catalogue: Catalogue, clock: Clock, public_url: str | None = None) -> None:
        self.catalogue = catalogue
        self.store: Store = catalogue.store
        self.clock = clock
        self.public_url = public_url
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(tr=tr, trn=trn)
        self.static = {name: (STATIC / name).read_bytes() for name in STATIC_FILES}

    def add_routes(self, app: web.Application) -> None:
        if security_headers not in app.middlewares:
            app.middlewares.append(security_headers)
        pages: dict[str, Callable[[web.Request], Awaitable[web.Response]]] = {
            "/": self.index,
            "/search": self.search,
            "/feed.atom": self.feed,
            "/calendar.ics": self.calendar,
            "/entries/{slug}": self.entry,
            "/entries/{slug}/history": self.history,
            "/entries/{slug}/feed.atom": self.feed,
            "/entries/{slug}/calendar.ics": self.calendar,
        }
        for path, page in pages.items():
            app.router.add_get(path, self._answered(page))
        for name in STATIC_FILES:
            app.router.add_get(f"/{name}", self.static_file)
        app.router.add_get("/{anything:.*}", self._answered(self.not_found))  # last: any other address

    def _answered(
        self, page: Callable[[web.Request], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """`page` in the visitor's language; an unknown entry is a 404 and a store it cannot read a 503,
        each with one line, never a crash or a traceback shown."""

        unreadable: tuple[type[BaseException], ...] = (*self.catalogue.store.errors, StoreError, OSError)

        async def answer(request: web.Request) -> web.Response:
            with reading(negotiate(request.headers.get("Accept-Language"))):
                try:
                    return await page(request)
                except _NotFound as missing:
                    return self._problem(request, 404, missing.line)
                except unreadable as exc:
                    log.warning("the page %s could not read the store: %s", request.path, exc)
                    return self._problem(request, 503, tr(UNAVAILABLE))

        return answer

    # --- addresses ---------------------------------------------------------------------------------

    def base(self, request: web.Request) -> str:
        return self.public_url or f"{request.scheme}://{request.host}"

    def links(self, request: web.Request, slug: str | None = None) -> dict[str, str]:
        """The page's links to the feed and the calendar (https, and webcal:// for calendar apps)."""
        prefix = f"/entries/{slug}" if slug else ""
        return {
            "feed": f"{prefix}/feed.atom",
            "calendar": f"{prefix}/calendar.ics",
            "webcal": WebLinks.at(self.base(request), slug).webcal,
        }

    def titles(self) -> dict[str, str]:
        return {entry.slug: entry.title for entry in self.catalogue.entries}

    def pages(self, request: web.Request) -> dict[str, str]:
        base = self.base(request)
        return {entry.slug: f"{base}/entries/{entry.slug}" for entry in self.catalogue.entries}

    # --- serving -----------------------------------------------------------------------------------

    async def _serve(
        self,
        request: web.Request,
        key: tuple[Any, ...],
        make: Callable[[], Awaitable[bytes]],
        content_type: str = HTML,
    ) -> web.Response:
        """A page, kept until the facts change (`key` says what else it depends on; the reader's language
        is part of every kept answer's key)."""
        await self.catalogue.notice_changes()
        body = await self.catalogue.kept(("web", self.base(request), *key), make)
        return etagged(request, body, content_type)

    def _render(self, template: str, **values: Any) -> bytes:
        locale = reader()
        page = self.templates.get_template(template)
        return page.render(lang=locale or "en", **values).encode()

    def _problem(self, request: web.Request, status: int, line: str) -> web.Response:
        body = self._render(
            "problem.html", title=tr("Not found") if status == 404 else tr("Unavailable"), line=line
        )
        response = etagged(request, body, HTML, status=status)
        if status == 503:
            response.headers["Retry-After"] = "60"
        return response

    def _entry(self, request: web.Request) -> Entry:
        slug = request.match_info["slug"]
        entry = self.catalogue.entries.by_slug.get(slug)
        if entry is None:
            raise _NotFound(tr("There is no entry {slug}: the index lists every one.", slug=slug[:60]))
        return entry

    def _now_minute(self) -> datetime:
        """Pages say "in 3 days" and hide spoilers until a moment: kept for a minute at most."""
        return self.clock().replace(second=0, microsecond=0)

    async def _hidden(self, entry: Entry) -> bool:
        """Whether `entry`'s spoilers are hidden now: a page has no server, so by the default rule."""
        return await self.catalogue.spoilers_hidden(entry, self.clock(), SPOILER_DAYS)

    async def static_file(self, request: web.Request) -> web.Response:
        name = request.path.lstrip("/")
        response = etagged(request, self.static[name], STATIC_FILES[name])
        response.headers["Cache-Control"] = "public, max-age=3600"
        del response.headers["Vary"]
        return response

    # --- pages -------------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        async def make() -> bytes:
            known = await self.store.facts.of_fields(("status", "premiere"))
            rows = [
                index_row(entry, known.get(entry.slug, []), self.clock()) for entry in self.catalogue.entries
            ]
            return self._render("index.html", rows=rows, links=self.links(request))

        return await self._serve(request, ("index", self._now_minute()), make)

    async def entry(self, request: web.Request) -> web.Response:
        entry = self._entry(request)
        hidden = await self._hidden(entry)

        async def make() -> bytes:
            facts = await self.store.facts.for_entry(entry.slug)
            page = entry_page(entry, facts, self.clock(), hidden)
            return self._render("entry.html", page=page, links=self.links(request, entry.slug))

        return await self._serve(request, ("entry", entry.slug, self._now_minute(), hidden), make)

    async def history(self, request: web.Request) -> web.Response:
        entry = self._entry(request)
        before = _revision_number(request.query.get("before"))
        hidden = await self._hidden(entry)

        async def make() -> bytes:
            revisions = await self.store.history.page(entry.slug, before, HISTORY_PAGE + 1)
            shown = [revision_view(r, self.clock(), hidden) for r in revisions[:HISTORY_PAGE]]
            older = shown[-1].id if len(revisions) > HISTORY_PAGE else None
            return self._render("history.html", entry=entry, revisions=shown, older=older)

        return await self._serve(request, ("history", entry.slug, before, self._now_minute(), hidden), make)

    async def search(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "")[:MAX_QUERY]

        async def make() -> bytes:
            words, hits, line = "", [], ""
            if query.strip():
                try:
                    words, found = await self.catalogue.search(query)
                    hits = hit_views(found)
                except CitadelError as exc:
                    words, line = " ".join(query.split())[:100], refusal(exc)
            return self._render("search.html", query=words, hits=hits, line=line)

        return await self._serve(request, ("search", query), make)

    async def feed(self, request: web.Request) -> web.Response:
        slug = request.match_info.get("slug")
        entry = self._entry(request) if slug else None

        async def make() -> bytes:
            from bot.web import feed  # feedgen and lxml: loaded by the first feed asked for

            base = self.base(request)
            batches = await self.store.outbox.recent_batches(feed.FEED_ITEMS, slug)
            items = feed.feed_items(batches, self.titles(), base, self.pages(request))
            name = (
                tr("Citadel: what changed")
                if entry is None
                else tr("{title}: what changed", title=entry.title)
            )
            return feed.atom(
                items,
                feed_id=feed.feed_id(base, slug),
                title=name,
                home=f"{base}/entries/{slug}" if slug else f"{base}/",
                self_url=f"{base}{request.path}",
                language=reader() or "en",
            )

        # Batches are not facts: the newest one's id says whether the kept feed is still the feed.
        return await self._serve(request, ("feed", slug, await self.store.outbox.latest_batch()), make, ATOM)

    async def calendar(self, request: web.Request) -> web.Response:
        slug = request.match_info.get("slug")
        entry = self._entry(request) if slug else None

        async def make() -> bytes:
            from bot.web import calendar  # icalendar: loaded by the first calendar asked for

            revisions = await self.store.history.of_fields(("premiere", ENTRY_FIELD), slug)
            events = calendar.premiere_events(revisions)
            name = tr("Citadel premieres") if entry is None else tr("{title}: premiere", title=entry.title)
            return calendar.calendar(events, self.titles(), name, self.pages(request))

        return await self._serve(request, ("calendar", slug), make, ICS)

    async def not_found(self, request: web.Request) -> web.Response:
        return self._problem(request, 404, tr("There is no page here: the index lists every entry."))


class _NotFound(Exception):
    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


def _revision_number(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise _NotFound(tr("{value} is not a revision number.", value=raw[:20]))
    return int(raw)
