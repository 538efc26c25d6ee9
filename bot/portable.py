"""Moving the store's data: `python -m bot export PATH` (everything that is not a cache, to one portable
JSON file, documented in docs/export-format.md), `python -m bot import PATH` (such a file into a new,
empty store) and `python -m bot export --canon DIR` (the current entries and facts as canon TOML files,
in the format bot/canon.py loads from data/canon).

The export is read generically from the schema: every table is exported, in primary-key order, except
the derived and runtime ones named below, so a table a later migration adds is exported without a
change here. The same data always gives the same bytes (no time stamp in the file), so two exports can
be compared with `cmp`, and export -> import -> export gives the file back byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from bot.backup import (
    DataError,
    _retire_old_store,
    check_store,
    connect_store,
    integrity_problems,
    is_sqlite,
    latest_schema,
    one_line_error,
    remove_database_files,
    temp_beside,
)
from bot.canon import FILES_DIGEST_KEY, SOURCES_FILE, CanonError, read_canon
from bot.client import TREE_DIGEST_KEY
from bot.facts import CONFIRMED, FIELD_SPECS, FIELDS, Entry, Fact, Kind, split_person
from bot.posts import CITADEL_COMMAND_KEY
from bot.running import InUse, exclusive
from bot.store import Store, StoreError, migrations, sql_statements

FORMAT = "citadel-bot export"
FORMAT_VERSION = 1

# Not state: the running bot processes and their heartbeats (migration 0008), rebuilt by every start;
# what the bot last counted of each server's scheduled events (migration 0009), counted again when needed;
# the shards' gateway sessions (migration 0015), which last minutes and belong to one connection; which
# process runs which shard (migration 0016), leases of seconds.
RUNTIME_TABLES = frozenset({"processes", "guild_event_room", "gateway_sessions", "shard_leases"})
# Runtime leases on deliveries (migration 0008) and on members' DM reminders (0012): which process is
# sending one, and until when.
RUNTIME_COLUMNS: Mapping[str, frozenset[str]] = {
    table: frozenset({"claimed_by", "claim_expires"}) for table in ("deliveries", "reminder_deliveries")
}
# Caches in `meta`, each rebuilt on the next start: the digest of the canon files (the per-file digests
# in canon_files, which are exported, keep the next load idempotent), and the digest of the synced
# command tree with the synced /citadel's id (both belong to the Discord application the bot last
# synced; without them the next start syncs once and records them again).
CACHE_META_KEYS = frozenset({FILES_DIGEST_KEY, TREE_DIGEST_KEY, CITADEL_COMMAND_KEY})

# What a summary line names first (singular and plural); every other table is counted as "other rows".
_NAMED = {
    "entries": ("entry", "entries"),
    "facts": ("fact", "facts"),
    "revisions": ("revision", "revisions"),
    "guild_settings": ("server", "servers"),
}


# --- the schema's exported tables -----------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]  # exported, in name order
    order: tuple[str, ...]  # the primary key (all columns if none): the rows' order


def exported_tables(connection: sqlite3.Connection) -> dict[str, Table]:
    """The tables an export carries, by name: every table but SQLite's own, virtual tables (the FTS
    index) and their shadow tables, and the runtime ones; every column but the runtime ones."""
    rows = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name"
    ).fetchall()
    virtual = [name for name, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL TABLE")]
    tables: dict[str, Table] = {}
    for name, _ in rows:
        if name.startswith("sqlite_") or name in RUNTIME_TABLES or name in virtual:
            continue
        if any(name.startswith(f"{v}_") for v in virtual):
            continue
        info = connection.execute(f'PRAGMA table_info("{name}")').fetchall()
        skip = RUNTIME_COLUMNS.get(name, frozenset())
        columns = tuple(sorted(row[1] for row in info if row[1] not in skip))
        key = tuple(row[1] for row in sorted(info, key=lambda r: r[5]) if row[5] > 0)
        tables[name] = Table(name, columns, key or columns)
    return tables


def _quoted(names: tuple[str, ...]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _where(table: Table) -> tuple[str, tuple[str, ...]]:
    """The rows of `table` that are state: all of them, but the cache keys of `meta`."""
    if table.name != "meta":
        return "", ()
    keys = tuple(sorted(CACHE_META_KEYS))
    return f" WHERE key NOT IN ({', '.join('?' * len(keys))})", keys


def count_rows(connection: sqlite3.Connection, tables: Mapping[str, Table]) -> dict[str, int]:
    """How many rows of state each table holds."""
    counts = {}
    for name, table in tables.items():
        where, params = _where(table)
        counts[name] = int(connection.execute(f'SELECT count(*) FROM "{name}"{where}', params).fetchone()[0])
    return counts


def _rows(connection: sqlite3.Connection, table: Table) -> Iterator[dict[str, Any]]:
    where, params = _where(table)
    cursor = connection.execute(
        f'SELECT {_quoted(table.columns)} FROM "{table.name}"{where} ORDER BY {_quoted(table.order)}', params
    )
    for values in cursor:
        row = dict(zip(table.columns, values, strict=True))
        for column, value in row.items():
            if not isinstance(value, str | int | float | None):
                raise DataError(
                    f"table {table.name}, column {column} holds binary data, which an export cannot carry."
                )
        yield row


def summary(tables: Mapping[str, list[Any]] | Mapping[str, int]) -> str:
    """ "6 entries, 250 facts, 300 revisions, 2 servers and 12 other rows"."""
    counts = {name: rows if isinstance(rows, int) else len(rows) for name, rows in tables.items()}

    def counted(number: int, one: str, many: str) -> str:
        return f"{number:,} {one if number == 1 else many}"

    parts = [counted(counts.get(table, 0), *labels) for table, labels in _NAMED.items()]
    other = sum(n for name, n in counts.items() if name not in _NAMED)
    return f"{', '.join(parts)} and {counted(other, 'other row', 'other rows')}"


# --- export ---------------------------------------------------------------------------------------


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)


def write_export(connection: sqlite3.Connection, file: TextIO) -> tuple[int, dict[str, int]]:
    """Write the store's state to `file` as the export's text (JSON, keys sorted, one row per line: the
    same bytes for the same data), row by row from one read transaction (one snapshot, and little
    memory however big the store). Returns the schema version and the rows of each table."""
    connection.execute("BEGIN")
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        tables = exported_tables(connection)
        counts = count_rows(connection, tables)
        write_document(file, version, counts, lambda name: _rows(connection, tables[name]))
    finally:
        connection.execute("COMMIT")
    return version, counts


def write_document(
    file: TextIO, version: int, counts: Mapping[str, int], rows: Callable[[str], Iterable[Mapping[str, Any]]]
) -> None:
    """The export's text: its header, then `rows(name)` of each table named in `counts`, in name order."""
    header = {"counts": counts, "format": FORMAT, "format_version": FORMAT_VERSION, "schema_version": version}
    file.write("{\n")
    for key, value in sorted(header.items()):
        file.write(f"{_dump(key)}: {_dump(value)},\n")
    file.write('"tables": {\n')
    for index, name in enumerate(sorted(counts)):
        file.write(f"{_dump(name)}: [")
        written = 0
        for row in rows(name):
            file.write(("\n" if written == 0 else ",\n") + _dump(row))
            written += 1
        if written != counts[name]:  # cannot happen inside one transaction; never write a lie
            raise sqlite3.DatabaseError(f"table {name} changed while it was read")
        file.write(("\n]" if written else "]") + ("," if index < len(counts) - 1 else "") + "\n")
    file.write("}\n}\n")


@dataclass(frozen=True)
class Exported:
    path: Path
    size: int
    schema_version: int
    counts: dict[str, int]
    seconds: float


def _check_target_file(target: Path, what: str, example: str) -> None:
    if target.is_dir():
        raise DataError(f"{target} is a folder: give the {what} a file name, such as {target / example}.")
    if not target.parent.is_dir():
        raise DataError(
            f"the folder {target.parent} does not exist: create it, or give the {what} another path."
        )


def _check_export_target(target: Path) -> None:
    _check_target_file(target, "export", "citadel-export.json")
    if target.exists() and not _is_export(target):
        raise DataError(
            f"{target} exists and is not a citadel-bot export, so it is not overwritten: give a new file name."
        )


def _is_export(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            start = file.read(4096)
    except OSError:
        return False
    return f'"format": {json.dumps(FORMAT)}'.encode() in start


def export_data(database: Path | str, target: Path) -> Exported:
    """Write everything in the store that is not a cache to `target` (see docs/export-format.md): the
    SQLite file `database`, or the PostgreSQL database at the DATABASE_URL `database`."""
    started = time.perf_counter()
    if not isinstance(database, Path):
        return _export_postgres(database, target, started)
    database_path = database
    check_store(database_path, "export")
    _check_export_target(target)
    temp = temp_beside(target)
    try:
        connection = connect_store(database_path)
        try:
            with temp.open("w", encoding="utf-8", newline="\n") as file:
                version, counts = write_export(connection, file)
                file.flush()
                os.fsync(file.fileno())
        finally:
            connection.close()
        temp.replace(target)
    except (OSError, sqlite3.Error) as exc:
        raise DataError(
            f"cannot export DATABASE_PATH {database_path} to {target} ({one_line_error(exc)}): check the free "
            f"space and permissions of {target.parent}; nothing was written."
        ) from exc
    finally:
        temp.unlink(missing_ok=True)
    return Exported(target, target.stat().st_size, version, counts, time.perf_counter() - started)


# --- import ---------------------------------------------------------------------------------------


def read_export(path: Path) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    """The schema version and tables of the export file `path`; DataError if it is not one this code reads."""
    if path.is_dir():
        raise DataError(f"{path} is a folder: give the path of a file written by `python -m bot export`.")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(
            f"{path} does not exist: give the path of a file written by `python -m bot export`."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"cannot read {path} ({one_line_error(exc)}): give a file written by `python -m bot export`."
        ) from exc
    not_export = f"{path} is not a citadel-bot export"
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{not_export}: it is not JSON ({exc.msg} at line {exc.lineno}); give a file written by `python -m bot export`."
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise DataError(
            f'{not_export} (it has no "format": "{FORMAT}"): give a file written by `python -m bot export`.'
        )
    format_version = document.get("format_version")
    if not isinstance(format_version, int) or format_version < 1:
        raise DataError(f"{not_export}: its format_version is {format_version!r}, not a version number.")
    if format_version > FORMAT_VERSION:
        raise DataError(
            f"{path} is export format version {format_version}, newer than this code reads ({FORMAT_VERSION}): "
            "import it with the newer citadel-bot that wrote it."
        )
    version = document.get("schema_version")
    latest = latest_schema()
    if not isinstance(version, int) or version < 1:
        raise DataError(f"{not_export}: its schema_version is {version!r}, not a version number.")
    if version > latest:
        raise DataError(
            f"{path} holds schema version {version}, newer than this code's {latest}: import it with the newer "
            "citadel-bot that wrote it."
        )
    tables, counts = document.get("tables"), document.get("counts")
    if not isinstance(tables, dict) or not all(
        isinstance(rows, list) and all(isinstance(row, dict) for row in rows) for rows in tables.values()
    ):
        raise DataError(f"{not_export}: its `tables` is not an object of lists of rows.")
    if counts != {name: len(rows) for name, rows in tables.items()}:
        raise DataError(
            f"{path} is damaged or was edited: its `counts` do not match its rows; export the store again."
        )
    return version, tables


def _migrate(connection: sqlite3.Connection, upto: int) -> None:
    """Apply the migrations after the database's version up to `upto`, each in its own transaction, as
    the store does when it opens (bot/store/database.py)."""
    current = int(connection.execute("PRAGMA user_version").fetchone()[0])
    for number, path in migrations():
        if current < number <= upto:
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in sql_statements(path.read_text(encoding="utf-8")):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {number}")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")


def _state_counts(database_path: Path) -> dict[str, int]:
    """How many rows of state the store at `database_path` holds, per table ({} for an empty file)."""
    if database_path.stat().st_size == 0:
        return {}
    connection = connect_store(database_path)
    try:
        return count_rows(connection, exported_tables(connection))
    finally:
        connection.close()


@dataclass(frozen=True)
class Imported:
    path: Path
    schema_version: int  # the export's; the store is at the latest
    counts: dict[str, int]
    seconds: float


def import_data(source: Path, database: Path | str) -> Imported:
    """Load the export `source` into a new store at `database` (a SQLite file, absent or empty of data;
    or a PostgreSQL database empty of data), all or nothing: the store is built beside it, checked, and
    renamed into place (on PostgreSQL, built as a SQLite file first, then copied in one transaction).
    DataError when refused."""
    started = time.perf_counter()
    version, tables = read_export(source)
    if not isinstance(database, Path):
        with tempfile.TemporaryDirectory(prefix="citadel-import-") as folder:
            built = Path(folder, "import.sqlite3")
            _build_and_replace(source, version, tables, built)
            _copy_to_postgres(built, database)
        counts = {name: len(rows) for name, rows in tables.items()}
        return Imported(source, version, counts, time.perf_counter() - started)
    _into_new_sqlite("import", source, version, tables, database)
    counts = {name: len(rows) for name, rows in tables.items()}
    return Imported(database, version, counts, time.perf_counter() - started)


def _into_new_sqlite(
    what: str, source: Path, version: int, tables: Mapping[str, list[dict[str, Any]]], database_path: Path
) -> None:
    """Build a new SQLite store at `database_path` (absent, or empty of data, and held by no bot) from
    `tables` of schema `version`; `what` (import, migrate) names the command in its refusals."""
    if database_path.is_dir():
        raise DataError(
            f"DATABASE_PATH {database_path} is a folder: give a file path such as data/citadel.sqlite3."
        )
    try:
        with exclusive(database_path):
            if database_path.exists():
                if database_path.stat().st_size and not is_sqlite(database_path):
                    raise DataError(
                        f"DATABASE_PATH {database_path} is not a SQLite database: {what} only into a new store "
                        "(point DATABASE_PATH at a new file); nothing was changed."
                    )
                counts = _state_counts(database_path)
                if any(counts.values()):
                    raise DataError(
                        f"DATABASE_PATH {database_path} already holds data ({summary(counts)}): {what} only into "
                        f"a new store: point DATABASE_PATH at a new file (or move this one away) and {what} again; "
                        "nothing was changed."
                    )
            _build_and_replace(source, version, tables, database_path)
    except InUse as exc:
        raise DataError(
            f"a bot is running on DATABASE_PATH {database_path} (it holds {exc.lock_path}): {what} only into a "
            "new store that no bot uses; nothing was changed."
        ) from None
    except sqlite3.Error as exc:
        raise DataError(
            f"cannot read DATABASE_PATH {database_path} ({one_line_error(exc)}): {what} only into a new store; "
            "nothing was changed."
        ) from exc


def _build_and_replace(
    source: Path, version: int, tables: Mapping[str, list[dict[str, Any]]], database_path: Path
) -> None:
    temp = temp_beside(database_path)
    database_path.parent.mkdir(parents=True, exist_ok=True)
    remove_database_files(temp)
    try:
        connection = sqlite3.connect(temp, isolation_level=None)
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            _migrate(connection, version)  # the schema the rows were exported from
            _insert(connection, source, version, tables)
            _migrate(connection, latest_schema())  # then on to this code's, data migrations and all
            problems = integrity_problems(connection)
        finally:
            connection.close()
        if problems:
            raise DataError(
                f"the store built from {source} fails SQLite's integrity check ({problems[0]}); nothing was changed."
            )
        with temp.open("rb") as file:
            os.fsync(file.fileno())
        _retire_old_store(database_path)
        temp.replace(database_path)
    except OSError as exc:
        raise DataError(
            f"cannot write beside DATABASE_PATH {database_path} ({one_line_error(exc)}): check the free space and "
            f"permissions of {database_path.parent}; nothing was changed."
        ) from exc
    finally:
        remove_database_files(temp)


def _insert(
    connection: sqlite3.Connection, source: Path, version: int, tables: Mapping[str, list[dict[str, Any]]]
) -> None:
    """Every row in one transaction, foreign keys checked at its end; the search index rebuilt."""
    known = exported_tables(connection)
    for name, rows in tables.items():
        if name not in known:
            raise DataError(
                f"{source} has a table {name!r} that schema version {version} does not have: it is not an export "
                "of this bot, or was edited."
            )
        for row in rows:
            extra = set(row) - set(known[name].columns)
            if extra:
                raise DataError(
                    f"{source}, table {name}: column {sorted(extra)[0]!r} is not in schema version {version}: "
                    "it is not an export of this bot, or was edited."
                )
            if name == "meta" and row.get("key") in CACHE_META_KEYS:
                raise DataError(
                    f"{source}, table meta: {row['key']!r} is a cache, which an export never holds."
                )
    # Foreign keys are checked once, at the end, with foreign_key_check (each row's parent looked up by
    # its key). Enforced row by row, every row of a parent table inserted would scan the tables that
    # point at it for rows it satisfies (facts for each revision): hours for 100,000 facts.
    connection.execute("PRAGMA foreign_keys = OFF")
    connection.execute("BEGIN IMMEDIATE")
    try:
        for name in sorted(tables):
            for index, row in enumerate(tables[name], start=1):
                columns = tuple(row)
                try:
                    connection.execute(
                        f'INSERT INTO "{name}" ({_quoted(columns)}) VALUES ({", ".join("?" * len(columns))})',
                        tuple(row.values()),
                    )
                except (sqlite3.Error, OverflowError) as exc:
                    raise DataError(
                        f"{source}, table {name}, row {index}: {one_line_error(exc)}; it was not imported, and "
                        "nothing was changed."
                    ) from exc
        broken = connection.execute("PRAGMA foreign_key_check").fetchone()
        if broken is not None:
            table, rowid, parent, _ = broken
            raise DataError(
                f"{source}, table {table}: row {rowid} points at a row of {parent} the file does not have; it was "
                "not imported, and nothing was changed."
            )
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND upper(sql) LIKE 'CREATE VIRTUAL TABLE%USING FTS5%'"
        ).fetchall():
            connection.execute(f'INSERT INTO "{name}" ("{name}") VALUES (\'rebuild\')')
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    finally:
        connection.execute("PRAGMA foreign_keys = ON")


# --- PostgreSQL: export, import, and `python -m bot migrate` ---------------------------------------


def _state(tables: Mapping[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The rows of `tables` that are state: all but the caches in `meta`."""
    return {
        name: [row for row in rows if name != "meta" or row.get("key") not in CACHE_META_KEYS]
        for name, rows in tables.items()
    }


async def _read_postgres(url: str) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    from bot.store.postgres import dump

    store = await _open(url)
    try:
        version, tables = await dump(store, RUNTIME_TABLES, RUNTIME_COLUMNS)
    finally:
        await store.close()
    return version, _state(tables)


async def _open(url: str) -> Store:
    try:
        return await Store.open(url)
    except StoreError as exc:
        raise DataError(str(exc).rstrip(".") + "; nothing was changed.") from None


def _export_postgres(url: str, target: Path, started: float) -> Exported:
    _check_export_target(target)
    version, tables = asyncio.run(_read_postgres(url))
    temp = temp_beside(target)
    try:
        with temp.open("w", encoding="utf-8", newline="\n") as file:
            write_document(file, version, {n: len(rows) for n, rows in tables.items()}, tables.__getitem__)
            file.flush()
            os.fsync(file.fileno())
        temp.replace(target)
    except OSError as exc:
        raise DataError(
            f"cannot export to {target} ({one_line_error(exc)}): check the free space and permissions of "
            f"{target.parent}; nothing was written."
        ) from exc
    finally:
        temp.unlink(missing_ok=True)
    counts = {name: len(rows) for name, rows in tables.items()}
    return Exported(target, target.stat().st_size, version, counts, time.perf_counter() - started)


def _copy_to_postgres(database_path: Path, url: str) -> dict[str, int]:
    """Copy the state of the SQLite store at `database_path` (brought to this code's schema first) into
    the PostgreSQL database at `url`, which must hold no data; the rows of each table."""
    asyncio.run(_migrated(database_path))
    connection = connect_store(database_path)
    try:
        connection.execute("BEGIN")
        tables = exported_tables(connection)
        rows = {name: list(_rows(connection, table)) for name, table in tables.items()}
        connection.execute("COMMIT")
    finally:
        connection.close()
    asyncio.run(_load_postgres(url, rows))
    return {name: len(table) for name, table in rows.items()}


async def _migrated(database_path: Path) -> None:
    store = await Store.open(database_path)
    await store.close()


async def _load_postgres(url: str, tables: dict[str, list[dict[str, Any]]]) -> None:
    from bot.store.postgres import dump, load, masked

    store = await _open(url)
    try:
        _, held = await dump(store, RUNTIME_TABLES, RUNTIME_COLUMNS)
        counts = {name: len(rows) for name, rows in _state(held).items()}
        if any(counts.values()):
            raise DataError(
                f"DATABASE_URL {masked(url)} already holds data ({summary(counts)}): copy only into an empty "
                "database (a new one, or drop this one's tables); nothing was changed."
            )
        try:
            await load(store, tables)
        except store.errors as exc:
            raise DataError(
                f"cannot copy into DATABASE_URL {masked(url)} ({one_line_error(exc)}); nothing was changed."
            ) from None
    finally:
        await store.close()


@dataclass(frozen=True)
class Migrated:
    counts: dict[str, int]
    seconds: float


def migrate_store(database_path: Path, url: str, *, to_postgresql: bool) -> Migrated:
    """`python -m bot migrate`: copy the SQLite store at `database_path` into the empty PostgreSQL
    database at `url`, or (`to_postgresql=False`) the PostgreSQL store into a new SQLite file; either way
    the two stores then export the same bytes. The source is left as it was."""
    started = time.perf_counter()
    if to_postgresql:
        check_store(database_path, "migrate")
        counts = _copy_to_postgres(database_path, url)
        return Migrated(counts, time.perf_counter() - started)
    version, tables = asyncio.run(_read_postgres(url))
    _into_new_sqlite("migrate", Path("DATABASE_URL"), version, tables, database_path)
    return Migrated({name: len(rows) for name, rows in tables.items()}, time.perf_counter() - started)


# --- canon ----------------------------------------------------------------------------------------


def toml_string(text: str) -> str:
    """A TOML basic string: quote, backslash and every control character escaped (TOML 1.0)."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_value(value: str | int | tuple[str, ...] | list[str]) -> str:
    if isinstance(value, bool):  # before int: a bool is one
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    return "[" + ", ".join(toml_string(item) for item in value) + "]"


def _toml_pairs(pairs: list[tuple[str, Any]]) -> list[str]:
    return [f"{key} = {_toml_value(value)}" for key, value in pairs if value is not None]


@dataclass(frozen=True)
class Canon:
    """The canon files' text, by file name."""

    files: dict[str, str]
    entries: int
    facts: int
    sources: int


def _source_name(citation: str) -> tuple[str, str]:
    """(name, url) for sources.toml such that the canon's citation of it is `citation` again."""
    parts = urlsplit(citation)
    if parts.scheme in ("http", "https") and citation.startswith(("http://", "https://")):
        host = parts.hostname or citation
        return (host.removeprefix("www."), citation)
    return (citation, "")


def render_canon(entries: list[Entry], facts: Mapping[str, list[Fact]]) -> Canon:
    """sources.toml and one `<slug>.toml` per entry, as bot/canon.py reads them: every fact cites a
    source code for its (citation, date); facts are in the embed's field order, each field's items in
    their order."""
    order = {spec.name: index for index, spec in enumerate(FIELD_SPECS)}
    sources: dict[tuple[str, str], str] = {}
    files: dict[str, str] = {}
    count = 0
    for entry in entries:
        lines = [
            "# Exported from the store by `python -m bot export --canon`.",
            *_toml_pairs(
                [
                    ("slug", entry.slug),
                    ("title", entry.title),
                    ("parent", entry.parent),
                    ("position", entry.position),
                    ("description", entry.description or None),
                    ("aliases", list(entry.aliases) or None),
                    ("tvmaze_id", entry.tvmaze_id),
                    ("tvmaze_season", entry.tvmaze_season),
                    ("wikidata_id", entry.wikidata_id),
                ]
            ),
        ]
        # for_entry gives each field's items in their order; the fields go in the embed's order.
        for fact in sorted(facts[entry.slug], key=lambda f: order.get(f.field, len(order))):
            code = sources.setdefault((fact.source, fact.source_date), f"S{len(sources) + 1}")
            value, role = fact.value, None
            if fact.field in FIELDS and FIELDS[fact.field].kind is Kind.PERSON:
                value, role = split_person(fact.value)
            pairs: list[tuple[str, Any]] = [("field", fact.field), ("value", value), ("role", role)]
            pairs += [
                ("source", code),
                ("confidence", fact.confidence if fact.confidence != CONFIRMED else None),
                ("spoiler", True if fact.spoiler else None),
            ]
            pairs.append(("note", fact.note or None))
            lines += ["", "[[facts]]", *_toml_pairs(pairs)]
            count += 1
        files[f"{entry.slug}.toml"] = "\n".join(lines) + "\n"
    source_lines = [
        "# Sources of the exported canon: each is one citation and the date the source said it.",
    ]
    for (citation, date), code in sources.items():
        name, url = _source_name(citation)
        source_lines += ["", f"[{code}]", *_toml_pairs([("name", name), ("url", url), ("date", date)])]
    files[SOURCES_FILE] = "\n".join(source_lines) + "\n"
    return Canon(files, len(entries), count, len(sources))


async def _entries_and_facts(store: Store) -> tuple[list[Entry], dict[str, list[Fact]]]:
    entries = await store.entries.all()
    return entries, {entry.slug: await store.facts.for_entry(entry.slug) for entry in entries}


def _said(facts: list[Fact]) -> list[tuple[str | bool, ...]]:
    """What the answers show of a list of facts (not who stored them, when, or their position numbers)."""
    return [
        (f.field, f.key, f.value, f.note, f.source, f.source_date, f.confidence, f.spoiler) for f in facts
    ]


def export_canon(database: Path | str, directory: Path) -> Canon:
    """Write the store's current entries and facts as canon files in the new (or empty) folder
    `directory`, after reading them back as the bot would and checking they say the same. `database`:
    the SQLite file, or a DATABASE_URL. Not for a running event loop (the CLI's): it runs its own."""
    if isinstance(database, Path):
        check_store(database, "export")
    if directory.exists() and not directory.is_dir():
        raise DataError(f"{directory} is a file: give --canon a new or empty folder.")
    if directory.is_dir() and any(directory.iterdir()):
        raise DataError(
            f"{directory} is not empty: give --canon a new or empty folder, so no canon file is overwritten."
        )
    if not directory.parent.is_dir():
        raise DataError(
            f"the folder {directory.parent} does not exist: create it, or give --canon another folder."
        )
    entries, facts = asyncio.run(_read_store(database))
    if any(entry.slug == Path(SOURCES_FILE).stem for entry in entries):
        raise DataError(f"the entry `sources` would be written over {SOURCES_FILE}: rename that entry first.")
    canon = render_canon(entries, facts)
    temp = temp_beside(directory)
    shutil.rmtree(temp, ignore_errors=True)
    try:
        temp.mkdir()
        for name, text in canon.files.items():
            (temp / name).write_text(text, encoding="utf-8", newline="\n")
        _check_canon(temp, entries, facts)
        if directory.is_dir():
            directory.rmdir()  # empty, as checked
        temp.replace(directory)
    except OSError as exc:
        raise DataError(
            f"cannot write the canon to {directory} ({one_line_error(exc)}): check the free space and "
            f"permissions of {directory.parent}; nothing was written."
        ) from exc
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return canon


async def _read_store(database: Path | str) -> tuple[list[Entry], dict[str, list[Fact]]]:
    store = await (Store.open(database) if isinstance(database, Path) else _open(database))
    try:
        return await _entries_and_facts(store)
    finally:
        await store.close()


def _check_canon(folder: Path, entries: list[Entry], facts: Mapping[str, list[Fact]]) -> None:
    """Read the written canon as a fresh bot's first start would (bot/canon.py's reader, its checks and
    its loading order): the same entries and the same facts as the store, or DataError. (Loading it into
    a scratch store would prove no more, and takes a minute for 100,000 facts: the loader stores what
    the reader gives; the tests load an exported canon into a real store and compare the answers.)"""
    try:
        files = read_canon(folder)
    except CanonError as exc:
        raise DataError(f"the canon written would not load ({exc}); nothing was written.") from exc
    loaded: set[str] = set()
    for canon_file in files:  # in the order the loader takes them: a parent must come before its entries
        parent = canon_file.entry.parent
        if parent is not None and parent not in loaded:
            raise DataError(
                f"entry {canon_file.entry.slug} is under {parent}, which is itself under another entry: the "
                "canon loader takes one level of parents; nothing was written."
            )
        loaded.add(canon_file.entry.slug)
    if sorted((f.entry for f in files), key=lambda e: (e.position, e.slug)) != entries:
        raise DataError("the canon written would not give back the same entries; nothing was written.")
    for canon_file in files:
        slug = canon_file.entry.slug
        wanted = _said(facts[slug])
        got = _said(sorted(canon_file.facts, key=lambda f: (f.field, f.position)))
        if got != wanted:
            field = next(
                (w[0] for w, g in zip(wanted, got, strict=False) if w != g), wanted[-1][0] if wanted else ""
            )
            raise DataError(
                f"entry {slug}, field {field}: the canon written would not give back its facts as they are "
                "(a value the canon reads differently, or an unknown field); nothing was written."
            )
