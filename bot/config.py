"""Settings from the environment (and `.env` via python-dotenv), validated once at start-up."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, time
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _defaults(root: Path) -> tuple[Path, Path]:
    """The default canon folder and database file.

    From a checkout (or an editable install of one), `root` holds pyproject.toml and data/canon: both
    defaults are in its data/ folder, the canon's source of truth. Installed as a package (`pip install .`),
    `root` is site-packages: the canon is the copy the wheel ships beside this module (bot/canon_data,
    always plain files, since pip never installs a package zipped), and the database is
    data/citadel.sqlite3 under the folder the bot is started from, the same folder whose .env it reads.
    """
    if (root / "pyproject.toml").is_file() and (root / "data" / "canon").is_dir():
        return root / "data" / "canon", root / "data" / "citadel.sqlite3"
    return Path(__file__).resolve().with_name("canon_data"), Path("data", "citadel.sqlite3")


DEFAULT_CANON_DIR, DEFAULT_DATABASE_PATH = _defaults(PROJECT_ROOT)

_SNOWFLAKE = re.compile(r"^[1-9][0-9]{15,20}$")
# A bot token is three base64url parts separated by dots; checking the shape catches pasted quotes,
# spaces and "Bot " prefixes before Discord is asked.
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TVMAZE_API = "https://api.tvmaze.com"
WIKIDATA_API = "https://www.wikidata.org"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it and says how to fix it."""


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its environment."""

    discord_token: str | None = field(default=None, repr=False)
    database_path: Path = DEFAULT_DATABASE_PATH
    # PostgreSQL instead of the SQLite file at database_path: postgresql://user:password@host:port/database.
    # Not in the repr, so its password never reaches a log.
    database_url: str | None = field(default=None, repr=False)
    canon_dir: Path = DEFAULT_CANON_DIR
    home_guild_ids: tuple[int, ...] = ()
    editor_role_id: int | None = None
    review_channel_id: int | None = None
    log_level: str = "INFO"
    # Announcements: edits within this many seconds are merged into one update post per entry.
    update_settle_seconds: int = 120
    # The time of day (UTC) of a premiere known only to the day, in /citadel countdown and for the start of
    # premiere events. Countdown posts go out at each server's own hour and zone (GuildSettings.posting).
    default_premiere_time: time = time(0, 0, tzinfo=UTC)
    # A ceiling on posts a second; None: as many as Discord's global limit (50 requests a second) leaves,
    # which the announcer learns from Discord's answers (bot/pacing.py).
    announce_rate: float | None = None
    # Sharding: with neither set, one process runs Discord's recommended number of shards.
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    # Only for running against a local fake Discord (tests, benchmarks); empty means Discord itself.
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    # The watcher of public sources: hours between its rounds (0 turns it off), and where it reads.
    watch_interval_hours: int = 6
    tvmaze_api: str = TVMAZE_API
    wikidata_api: str = WIKIDATA_API
    # Health and metrics: with a port, GET /healthz and GET /metrics are served there (None: no port).
    http_port: int | None = None
    http_host: str = "127.0.0.1"
    # Where fans reach the public page (bot/web), e.g. https://citadel.example.org: the answers give its
    # links and calendar's webcal:// address, and the feed and calendar name it. None: not said.
    public_url: str | None = None
    # Rotating backups the bot keeps itself: a folder (None: off), hours between them, how many to keep.
    backup_dir: Path | None = None
    backup_every_hours: int = 24
    backup_keep: int = 7

    @property
    def database(self) -> Path | str:
        """Where the store is: DATABASE_URL when set, else the SQLite file DATABASE_PATH."""
        return self.database_url or self.database_path

    def require_token(self) -> str:
        """The token, or a ConfigError that says where to get one."""
        if not self.discord_token:
            raise ConfigError(
                "DISCORD_TOKEN is not set: copy .env.example to .env and paste your bot's token "
                "(Discord Developer Portal -> your application -> Bot -> Reset Token)."
            )
        return self.discord_token


def _snowflakes(name: str, raw: str) -> tuple[int, ...]:
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    for part in ids:
        if not _SNOWFLAKE.match(part):
            raise ConfigError(
                f"{name} has {part!r}, which is not a Discord id: use comma-separated numeric ids "
                "(Discord: Settings -> Advanced -> Developer Mode, then right-click the server -> Copy Server ID)."
            )
    return tuple(int(part) for part in ids)


def _one_snowflake(name: str, raw: str) -> int | None:
    ids = _snowflakes(name, raw)
    if len(ids) > 1:
        raise ConfigError(f"{name} takes one id, not a list.")
    return ids[0] if ids else None


def _number(name: str, raw: str, default: int, low: int, high: int) -> int:
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


def _time_of_day(name: str, raw: str) -> time:
    if not raw:
        return time(0, 0, tzinfo=UTC)
    match = re.match(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$", raw)
    if not match:
        raise ConfigError(f"{name} must be a time of day in UTC as HH:MM, like 00:00 or 20:00.")
    return time(int(match[1]), int(match[2]), tzinfo=UTC)


def _url(name: str, raw: str, schemes: tuple[str, ...], empty: str = "Discord") -> str:
    if not raw.startswith(tuple(f"{scheme}://" for scheme in schemes)):
        raise ConfigError(
            f"{name} must start with {' or '.join(s + '://' for s in schemes)}; leave it empty for {empty}."
        )
    return raw.rstrip("/")


def _public_url(raw: str) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            f"PUBLIC_URL {raw!r} is not a web address: give where fans reach the page, like "
            "https://citadel.example.org (no query), or leave it empty."
        )
    return raw.rstrip("/")


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Read settings from `environ` (default: os.environ) over the values in `.env`.

    Real environment variables win over `.env`, as python-dotenv does by default.
    """
    values: dict[str, str] = {}
    dotenv_path = env_file if env_file is not None else Path.cwd() / ".env"
    if dotenv_path.is_file():
        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    def get(name: str) -> str:
        return values.get(name, "").strip()

    token = get("DISCORD_TOKEN") or None
    if token is not None and not _TOKEN.match(token):
        raise ConfigError(
            "DISCORD_TOKEN is malformed: it should be the bare token (three parts separated by dots), "
            "without quotes, spaces or a 'Bot ' prefix."
        )

    level = (get("LOG_LEVEL") or "INFO").upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}.")

    database_path = Path(get("DATABASE_PATH")).expanduser() if get("DATABASE_PATH") else DEFAULT_DATABASE_PATH
    if database_path.exists() and database_path.is_dir():
        raise ConfigError("DATABASE_PATH points at a folder: give a file path such as data/citadel.sqlite3.")
    canon_dir = Path(get("CANON_DIR")).expanduser() if get("CANON_DIR") else DEFAULT_CANON_DIR
    if not canon_dir.is_dir():
        raise ConfigError(
            f"CANON_DIR {str(canon_dir)!r} is not a folder: point it at data/canon or leave it empty."
        )

    shard_count = _number("SHARD_COUNT", get("SHARD_COUNT"), 0, 1, 10000) or None
    shard_ids = None
    if get("SHARD_IDS") and get("SHARD_IDS").strip().lower() != "auto":  # auto: any shard, as when unset
        if shard_count is None:
            raise ConfigError("SHARD_IDS needs SHARD_COUNT: set how many shards there are in all.")
        parts = [p.strip() for p in get("SHARD_IDS").split(",") if p.strip()]
        if not all(p.isdigit() and int(p) < shard_count for p in parts) or not parts:
            raise ConfigError(f"SHARD_IDS must be comma-separated shard numbers from 0 to {shard_count - 1}.")
        shard_ids = tuple(sorted({int(p) for p in parts}))

    backup_dir = Path(get("BACKUP_DIR")).expanduser() if get("BACKUP_DIR") else None
    if backup_dir is not None and backup_dir.exists() and not backup_dir.is_dir():
        raise ConfigError(f"BACKUP_DIR {str(backup_dir)!r} is a file: give a folder, or leave it empty.")

    database_url = _database_url(get("DATABASE_URL"))
    if database_url is not None and backup_dir is not None:
        raise ConfigError(
            "BACKUP_DIR copies a SQLite file; with DATABASE_URL the store is PostgreSQL's, backed up with "
            "pg_dump: leave BACKUP_DIR empty."
        )

    return Settings(
        database_url=database_url,
        http_port=_number("HTTP_PORT", get("HTTP_PORT"), 0, 1, 65535) or None,
        http_host=get("HTTP_HOST") or "127.0.0.1",
        public_url=_public_url(get("PUBLIC_URL")),
        backup_dir=backup_dir,
        backup_every_hours=_number("BACKUP_EVERY_HOURS", get("BACKUP_EVERY_HOURS"), 24, 1, 720),
        backup_keep=_number("BACKUP_KEEP", get("BACKUP_KEEP"), 7, 1, 1000),
        shard_count=shard_count,
        shard_ids=shard_ids,
        update_settle_seconds=_number("UPDATE_SETTLE_SECONDS", get("UPDATE_SETTLE_SECONDS"), 120, 0, 86400),
        default_premiere_time=_time_of_day("DEFAULT_PREMIERE_TIME", get("DEFAULT_PREMIERE_TIME")),
        announce_rate=float(_number("ANNOUNCE_RATE", get("ANNOUNCE_RATE"), 0, 1, 50)) or None,
        discord_token=token,
        database_path=database_path,
        canon_dir=canon_dir,
        home_guild_ids=_snowflakes("HOME_GUILD_IDS", get("HOME_GUILD_IDS")),
        editor_role_id=_one_snowflake("EDITOR_ROLE_ID", get("EDITOR_ROLE_ID")),
        review_channel_id=_one_snowflake("REVIEW_CHANNEL_ID", get("REVIEW_CHANNEL_ID")),
        log_level=level,
        discord_api_base=_url("DISCORD_API_BASE", get("DISCORD_API_BASE"), ("http", "https"))
        if get("DISCORD_API_BASE")
        else None,
        discord_gateway_url=_url("DISCORD_GATEWAY_URL", get("DISCORD_GATEWAY_URL"), ("ws", "wss"))
        if get("DISCORD_GATEWAY_URL")
        else None,
        watch_interval_hours=_number("WATCH_INTERVAL_HOURS", get("WATCH_INTERVAL_HOURS"), 6, 0, 168),
        tvmaze_api=_url("TVMAZE_API", get("TVMAZE_API"), ("http", "https"), TVMAZE_API)
        if get("TVMAZE_API")
        else TVMAZE_API,
        wikidata_api=_url("WIKIDATA_API", get("WIKIDATA_API"), ("http", "https"), WIKIDATA_API)
        if get("WIKIDATA_API")
        else WIKIDATA_API,
    )


def _database_url(text: str) -> str | None:
    """DATABASE_URL, checked: a postgresql:// (or postgres://) URL. Refusals never repeat the URL, which
    may hold a password."""
    if not text:
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise ConfigError(
            "DATABASE_URL is malformed: write it as postgresql://user:password@host:5432/database."
        ) from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(
            f"DATABASE_URL must be a PostgreSQL URL (postgresql://user:password@host:5432/database), not "
            f"{parts.scheme or 'a bare path'}: for a SQLite file set DATABASE_PATH instead."
        )
    return text


def configure_logging(level: str) -> None:
    """One plain log format for the bot and discord.py."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
