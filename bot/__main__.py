"""`python -m bot`: run the bot, force a command sync, or answer a command offline from the local store."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta

import aiohttp
import discord
from aiohttp import web

from bot import running
from bot.canon import CanonError, load_canon
from bot.client import CitadelBot, GracefulStop, configured_shards, point_at
from bot.clock import Clock, SystemClock, utc_now
from bot.config import ConfigError, Settings, configure_logging, load_settings
from bot.errors import CitadelError
from bot.facts import field_label
from bot.health import listen
from bot.i18n import LANGUAGES, reading
from bot.operations import add_commands, run_command
from bot.presence import Presence
from bot.refusals import refusal
from bot.render import Card, Style, to_text
from bot.services import Catalogue
from bot.store import Store, StoreError, check_file
from bot.watcher import Watcher, readers

log = logging.getLogger("bot")
EXIT_USAGE = 2  # a setting, the canon or the token needs fixing by the operator
DEFAULT_WATCH_HOURS = 6  # `watch` with the watcher turned off still plans the next round this far ahead


async def open_store(settings: Settings, clock: Clock = utc_now) -> Store:
    """The store, created and seeded with the canon on first use. StoreError (one line for the
    operator) when the database cannot be used; nothing is left open then."""
    store = await Store.open(settings.database, clock)
    try:
        await load_canon(store, settings.canon_dir)
    except store.errors as exc:
        await store.close()
        raise store.error(exc) from None
    except BaseException:
        await store.close()
        raise
    return store


async def run_bot(settings: Settings, *, sync_only: bool = False) -> None:
    """Run until stopped (SIGINT/SIGTERM); with `sync_only`, log in, sync the commands and stop."""
    token = settings.require_token()
    point_at(settings)
    if settings.database_url is not None:  # a server's database: no file here to hold
        await _run_bot(settings, token, sync_only=sync_only)
        return
    check_file(settings.database_path)  # refused before anything is created beside it
    # Held for the whole run, shared with the other processes of this store: `restore` and `import`
    # refuse to replace the file while any bot holds it.
    with running.hold(settings.database_path):
        await _run_bot(settings, token, sync_only=sync_only)


async def _run_bot(settings: Settings, token: str, *, sync_only: bool) -> None:
    store = await open_store(settings)
    try:
        presence = Presence(store, SystemClock(), configured_shards(settings))
        if not sync_only:
            try:  # the first write of a start: a store that cannot be written is refused here
                await presence.join()
            except store.errors as exc:
                raise store.error(exc) from None
        bot = CitadelBot(settings, store, force_sync=sync_only, presence=presence)
        async with bot:
            if sync_only:
                await bot.login(token)  # setup_hook runs here and syncs
                return
            loop = asyncio.get_running_loop()
            stopping: list[tuple[str, asyncio.Task[GracefulStop]]] = []

            def stop(sig: signal.Signals) -> None:
                if not stopping:  # a second signal while stopping changes nothing: the stop is bounded
                    log.info(
                        "%s: stopping; no new posts are started, the ones under way may finish", sig.name
                    )
                    stopping.append(
                        (sig.name, asyncio.create_task(bot.stop_gracefully(), name="graceful stop"))
                    )

            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop, sig)
            freezing = asyncio.create_task(freeze_when_ready(bot))
            try:
                await bot.start(token)
            finally:
                freezing.cancel()
            if stopping:
                name, task = stopping[0]
                report = await task
                await store.checkpoint()
                log.info("%s; the database is checkpointed", report.line(name))
    finally:
        await store.close()


async def freeze_when_ready(bot: CitadelBot) -> None:
    """Once connected, keep what the bot holds for good (its servers, entries, commands) out of every
    later garbage collection, so that the full ones stay short: see `main`."""
    await bot.wait_until_connected()
    gc.freeze()


class UsageError(Exception):
    """`python -m bot ask` was asked something it does not answer."""


# What `ask --locale` takes: Discord's own names for the bot's languages, and its English ones.
ENGLISH_LOCALES = ("en-GB", "en-US")


def ask_locale(locale: str | None) -> str | None:
    """The Discord locale `ask --locale` answers in (None: English), or UsageError naming the choices."""
    if locale is None or locale in ENGLISH_LOCALES:
        return None
    if locale not in LANGUAGES:
        raise UsageError(
            f"ask does not speak {locale!r}; use --locale with one of {', '.join(LANGUAGES)} "
            "(without it, English)."
        )
    return locale


async def ask(settings: Settings, words: Sequence[str], locale: str | None = None) -> str:
    """Answer `citadel <entry>`, `citadel show <entry>`, `citadel search <query>` or `citadel about` as text,
    through the same catalogue the slash commands use, in the language of Discord's `locale` (None:
    English), as a member with that locale would read it."""
    with reading(ask_locale(locale)):
        return await _ask(settings, words)


async def _ask(settings: Settings, words: Sequence[str]) -> str:
    if not words or words[0] != "citadel" or len(words) < 2:
        raise UsageError(
            "Ask like this: ask citadel diana | ask citadel show <entry> | ask citadel search <words> | ask citadel about"
        )
    store = await open_store(settings)
    try:
        catalogue = Catalogue(
            store, utc_now, default_time=settings.default_premiere_time, public_url=settings.public_url
        )
        await catalogue.open()
        sub, rest = words[1], " ".join(words[2:])
        card: Card
        if sub == "search":
            card = await catalogue.search_card(rest, Style.TEXT)
        elif sub == "about":
            card = await catalogue.about_card()
        else:
            entry = catalogue.resolve(rest if sub == "show" else " ".join(words[1:]))
            card = await catalogue.entry_card(entry, utc_now(), Style.TEXT)
        catalogue.close()
        return to_text(card)
    except CitadelError as exc:
        raise UsageError(refusal(exc)) from None
    finally:
        await store.close()


async def watch(settings: Settings) -> tuple[str, bool]:
    """One round of every public source now, against the configured store: what it filed for review,
    and whether every entry could be read."""
    store = await open_store(settings)
    try:
        async with aiohttp.ClientSession() as session:
            interval = timedelta(hours=settings.watch_interval_hours or DEFAULT_WATCH_HOURS)
            watcher = Watcher(store, SystemClock(), readers(session, settings), interval=interval)
            rounds = await watcher.round_now()
    finally:
        await store.close()
    lines: list[str] = []
    for done in rounds:
        line = f"{done.source}: read {done.read} of {done.read + done.failed} entries"
        lines.append(line + (f"; not read: {done.state.error}" if done.failed else ""))
        for proposal in done.proposals:
            suggestion = proposal.suggestion
            fact = suggestion.fact
            lines.append(
                f"  suggestion #{suggestion.id}: {suggestion.entry_title} · {field_label(fact.field)}: "
                f"{proposal.current or 'nothing'} -> {fact.value} ({fact.source}, {fact.source_date})"
            )
    if not any(done.proposals for done in rounds):
        lines.append("nothing new")
    return "\n".join(lines), not any(done.failed for done in rounds)


async def serve_web(settings: Settings) -> None:
    """`python -m bot web`: the public page alone (bot/web), from the configured store, on HTTP_HOST and
    HTTP_PORT, until SIGTERM or SIGINT. It connects to no Discord and needs no token; a bot sharing the
    store is noticed within half a second, as its other processes are."""
    if settings.http_port is None:
        raise ConfigError(
            "python -m bot web needs HTTP_PORT: set the port to serve the page on (and HTTP_HOST for the "
            "address, default 127.0.0.1)."
        )
    from bot.web.site import Site  # not loaded by the other commands

    if settings.database_url is None:
        check_file(settings.database_path)
    store = await open_store(settings)
    try:
        catalogue = Catalogue(store, utc_now, default_time=settings.default_premiere_time)
        await catalogue.open()
        app = web.Application()
        Site(catalogue, utc_now, settings.public_url).add_routes(app)
        runner = await listen(app, settings.http_host, settings.http_port, "and run the page with the bot")
        log.info("serving the public page on http://%s:%d", settings.http_host, settings.http_port)
        stopped = asyncio.Event()
        signals: list[str] = []

        def stop(sig: signal.Signals) -> None:
            signals.append(sig.name)
            stopped.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop, sig)
        await stopped.wait()
        await runner.cleanup()
        catalogue.close()
        log.info("the public page stopped on %s", signals[0])
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="citadel-bot: Citadel facts for Discord."
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the bot (the default)")
    commands.add_parser("sync", help="sync the slash commands with Discord now, then exit")
    ask_parser = commands.add_parser(
        "ask", help="answer a command offline, e.g. `ask citadel diana` or `ask --locale it citadel diana`"
    )
    ask_parser.add_argument(
        "--locale", help=f"answer in this Discord locale: {', '.join(LANGUAGES)} (default: English)"
    )
    ask_parser.add_argument("words", nargs="*")
    commands.add_parser(
        "watch",
        help="read the public sources once now and file what differs for review; prints what it filed",
    )
    commands.add_parser(
        "web", help="serve the public page alone (HTTP_PORT), from the store, without connecting to Discord"
    )
    add_commands(commands)  # backup, restore, export, import
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        # `ask` prints an answer for a person at a terminal: only warnings and errors beside it.
        configure_logging(settings.log_level if args.command not in ("ask", "watch") else "WARNING")
        # Modules, classes and functions imported so far live as long as the process: the collector
        # need not look at them again. Without this the first full collection, due while the gateway
        # connects, spends 20-50 ms walking them, and every later one does too.
        gc.freeze()
        if (code := run_command(args, settings)) is not None:
            return code
        if args.command == "ask":
            print(asyncio.run(ask(settings, args.words, args.locale)))
        elif args.command == "web":
            asyncio.run(serve_web(settings))
        elif args.command == "watch":
            report, complete = asyncio.run(watch(settings))
            print(report)
            return 0 if complete else 1
        else:
            asyncio.run(run_bot(settings, sync_only=args.command == "sync"))
        return 0
    except (ConfigError, CanonError, UsageError, StoreError) as exc:
        print(f"citadel-bot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except discord.LoginFailure:
        print(
            "citadel-bot: Discord rejected DISCORD_TOKEN (401 Unauthorized): reset the token in the Developer "
            "Portal (your application -> Bot -> Reset Token) and put the new one in .env.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except discord.PrivilegedIntentsRequired:
        print(
            "citadel-bot: Discord says a privileged intent is required; this bot should not ask for one.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except (aiohttp.ClientConnectionError, OSError) as exc:
        print(
            f"citadel-bot: cannot reach Discord ({type(exc).__name__}); check the network and try again.",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
