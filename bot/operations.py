"""`python -m bot backup|restore|export|import|migrate`: the operator's commands for moving the store's data.

Each prints one line saying what it did and exits 0, or prints one line on stderr saying what is wrong
(naming the setting or path) and what to do, changes nothing, and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.backup import DataError, human_size, latest_schema, restore, write_backup
from bot.config import Settings
from bot.portable import export_canon, export_data, import_data, migrate_store, summary

COMMANDS = ("backup", "restore", "export", "import", "migrate")
TO_POSTGRESQL, TO_SQLITE = "to-postgresql", "to-sqlite"
EXIT_REFUSED = 2


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the data commands to `python -m bot`'s subcommands."""
    backup = commands.add_parser(
        "backup", help="write a consistent copy of the store (DATABASE_PATH) to PATH; safe while the bot runs"
    )
    backup.add_argument("path", type=Path, metavar="PATH")
    restore_parser = commands.add_parser(
        "restore",
        help="replace the store (DATABASE_PATH) with the backup PATH, once checked; stop the bot first",
    )
    restore_parser.add_argument("path", type=Path, metavar="PATH")
    export = commands.add_parser(
        "export",
        help="write the store's data to one JSON file (PATH; see docs/export-format.md), or with --canon DIR "
        "its entries and facts as canon TOML files",
    )
    target = export.add_mutually_exclusive_group(required=True)
    target.add_argument("path", type=Path, nargs="?", metavar="PATH")
    target.add_argument("--canon", type=Path, metavar="DIR", help="a new or empty folder for the canon files")
    import_parser = commands.add_parser(
        "import", help="load an export (PATH) into a new, empty store at DATABASE_PATH"
    )
    import_parser.add_argument("path", type=Path, metavar="PATH")
    migrate = commands.add_parser(
        "migrate",
        help="copy the SQLite store (DATABASE_PATH) into the empty PostgreSQL database (DATABASE_URL), or "
        "back into a new SQLite file; stop the bot first",
    )
    migrate.add_argument("direction", choices=(TO_POSTGRESQL, TO_SQLITE))


def run_command(args: argparse.Namespace, settings: Settings) -> int | None:
    """Run the data command `args` names and return its exit code; None when it names another command."""
    if args.command not in COMMANDS:
        return None
    try:
        print(_run(args, settings))
    except DataError as exc:
        print(f"citadel-bot: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> str:
    database_path, url = settings.database_path, settings.database_url
    if args.command == "migrate":
        return _migrate(args.direction, database_path, url)
    if url is not None and args.command in ("backup", "restore"):
        raise DataError(
            f"`{args.command}` copies a SQLite file; the store is PostgreSQL's (DATABASE_URL): back it up and "
            "restore it with pg_dump and pg_restore (or `python -m bot export`, which works on either)."
        )
    if args.command == "backup":
        copy = write_backup(database_path, args.path)
        return (
            f"wrote {copy.path}: a copy of {database_path} ({human_size(copy.size)}, schema version "
            f"{copy.schema_version}) in {copy.seconds:.2f} s"
        )
    if args.command == "restore":
        copy = restore(args.path, database_path)
        later = (
            f"; the bot migrates it to version {latest_schema()} when it starts"
            if copy.schema_version < latest_schema()
            else ""
        )
        return (
            f"restored {database_path} from {args.path} ({human_size(copy.size)}, schema version "
            f"{copy.schema_version}){later}"
        )
    if args.command == "export" and args.canon is not None:
        canon = export_canon(settings.database, args.canon)
        return (
            f"wrote {canon.entries} entries with {canon.facts} facts and {canon.sources} sources as canon "
            f"files to {args.canon}"
        )
    if args.command == "export":
        exported = export_data(settings.database, args.path)
        return (
            f"wrote {exported.path} ({human_size(exported.size)}, schema version {exported.schema_version}): "
            f"{summary(exported.counts)}"
        )
    imported = import_data(args.path, settings.database)
    into = database_path if url is None else "DATABASE_URL"
    return (
        f"imported {args.path} into {into} (schema version {imported.schema_version}"
        f"{f', migrated to {latest_schema()}' if imported.schema_version < latest_schema() else ''}): "
        f"{summary(imported.counts)}"
    )


def _migrate(direction: str, database_path: Path, url: str | None) -> str:
    if url is None:
        raise DataError(
            "migrate needs DATABASE_URL: set it to the PostgreSQL database (postgresql://user:password@host/db) "
            "that the SQLite store DATABASE_PATH moves into, or comes back from."
        )
    done = migrate_store(database_path, url, to_postgresql=direction == TO_POSTGRESQL)
    way = "from DATABASE_PATH {0} into DATABASE_URL" if direction == TO_POSTGRESQL else "from DATABASE_URL into DATABASE_PATH {0}"
    return (
        f"copied {summary(done.counts)} {way.format(database_path)} in {done.seconds:.2f} s; "
        "both now export the same file (python -m bot export)"
    )
