"""The public page in tests: served by the real aiohttp app over a real store (alone, as `python -m bot
web` serves it, or by the running bot on its HTTP_PORT), read with a real HTTP client, its HTML parsed
with the standard library's parser."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from bot.clock import Clock, utc_now
from bot.services import Catalogue
from bot.store import Store
from bot.web.site import CSP, Site
from tests.harness import ROOT, free_port

# The browser tests' parts: Debian's Chromium (driven by Playwright) and axe-core from npm, which .ci/run
# installs; where either is missing, the tests that need it are skipped with one line saying so.
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
AXE_VERSION = "4.14.1"
AXE = ROOT / ".ci" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
NO_CHROMIUM = (
    f"browser tests skipped: no Chromium at {CHROMIUM}; `apt-get install chromium` (Debian) or set CHROMIUM "
    "to a Chromium binary to run them"
)
NO_AXE = (
    f"accessibility checks skipped: no axe-core at {AXE.relative_to(ROOT)}; "
    f"`npm install --prefix .ci/axe --no-save axe-core@{AXE_VERSION}` to run them"
)

SECURITY = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


@asynccontextmanager
async def serving(store: Store, clock: Clock = utc_now, public_url: str | None = None) -> AsyncIterator[str]:
    """The page alone over `store`, as `python -m bot web` serves it; yields its address."""
    catalogue = Catalogue(store, clock, public_url=public_url)
    await catalogue.open()
    app = web.Application()
    Site(catalogue, clock, public_url).add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        catalogue.close()


@dataclass
class Got:
    status: int
    headers: CIMultiDict[str]  # as HTTP reads them: any case
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


async def get(http: aiohttp.ClientSession, url: str, **headers: str) -> Got:
    async with http.get(url, headers=headers, allow_redirects=False) as response:
        return Got(response.status, CIMultiDict(response.headers), await response.read())


@dataclass
class Page(HTMLParser):
    """What a browser would build from an HTML page, as far as the tests look: every element with its
    attributes, and the text (what a page says, scripts and styles would not count)."""

    tags: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page
