"""The Atom feed of changes (RFC 4287), made with `feedgen`: one item per change batch, the same batches
and the same lines as the update posts servers get (bot/announcements.py `change_line`), in plain text.

Ids are stable: a batch's item keeps its id for good (a UUID made from the site and the batch's number),
so a feed reader never shows the same change twice."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from feedgen.feed import FeedGenerator

from bot.announcements import change_line, update_title
from bot.i18n import tr
from bot.render import Style
from bot.store.outbox import Batch

FEED_ITEMS = 50  # the newest batches a feed carries


@dataclass(frozen=True)
class FeedItem:
    id: str
    title: str
    lines: tuple[str, ...]
    updated: datetime
    link: str


def item_id(site: str, batch_id: int) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{site}/batch/{batch_id}").urn


def feed_id(site: str, slug: str | None) -> str:
    """The feed's own id: the site's, or one entry's."""
    return item_id(site if slug is None else f"{site}/entries/{slug}", 0)


def feed_items(
    batches: Sequence[tuple[Batch, datetime]], titles: Mapping[str, str], site: str, page: Mapping[str, str]
) -> list[FeedItem]:
    """The batches as feed items, in the reader's language (every spoiler left out: a reader keeps an
    item for good, and shows it to whoever opens it)."""
    items = []
    for batch, closed in batches:
        title = titles.get(batch.entry_slug, batch.entry_slug)
        lines = tuple(change_line(change, closed, True, Style.TEXT) for change in batch.changes)
        items.append(
            FeedItem(
                item_id(site, batch.id), update_title(title, batch.changes), lines, closed,
                page.get(batch.entry_slug, site + "/"),
            )
        )  # fmt: skip
    return items


def atom(
    items: Sequence[FeedItem], *, feed_id: str, title: str, home: str, self_url: str, language: str
) -> bytes:
    feed = FeedGenerator()
    feed.id(feed_id)
    feed.title(title)
    feed.subtitle(tr("Every change to the facts, with its source, as the bot's update posts say it."))
    feed.link(href=home, rel="alternate", type="text/html")
    feed.link(href=self_url, rel="self", type="application/atom+xml")
    feed.language(language)
    feed.author({"name": "citadel-bot"})
    feed.generator("citadel-bot")
    if items:
        feed.updated(items[0].updated)
    for item in reversed(items):  # feedgen puts the last added first
        entry = feed.add_entry()
        entry.id(item.id)
        entry.title(item.title)
        entry.updated(item.updated)
        entry.published(item.updated)
        entry.link(href=item.link, rel="alternate", type="text/html")
        entry.content("\n".join(item.lines), type="text")
    return bytes(feed.atom_str(pretty=True))
