"""Settings: defaults, validation with one clear line per problem, and the CLI's exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import DEFAULT_DATABASE_PATH, ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "MTAxMjM0NTY3ODkwMTIzNDU2.Gabcde.fake-token-for-tests_0123456789"


def settings_from(**env: str):
    return load_settings(env, env_file=Path("/nonexistent/.env"))


def test_defaults() -> None:
    settings = settings_from()
    assert settings.discord_token is None
    assert settings.database_path == DEFAULT_DATABASE_PATH
    assert settings.database_path.parent.name == "data"
    assert settings.home_guild_ids == ()
    assert settings.log_level == "INFO"
    assert settings.watch_interval_hours == 6
    assert (settings.tvmaze_api, settings.wikidata_api) == (
        "https://api.tvmaze.com",
        "https://www.wikidata.org",
    )


def test_values_are_read_and_cleaned() -> None:
    settings = settings_from(
        DISCORD_TOKEN=f" {TOKEN} ", HOME_GUILD_IDS="123456789012345678, 223456789012345678", LOG_LEVEL="debug"
    )
    assert settings.discord_token == TOKEN
    assert settings.home_guild_ids == (123456789012345678, 223456789012345678)
    assert settings.log_level == "DEBUG"
    assert TOKEN not in repr(settings)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"HOME_GUILD_IDS": "my server"}, "HOME_GUILD_IDS"),
        ({"HOME_GUILD_IDS": "123, -5"}, "HOME_GUILD_IDS"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
        ({"DISCORD_TOKEN": "Bot abc.def.ghi"}, "DISCORD_TOKEN"),
        ({"DISCORD_TOKEN": '"abc.def.ghi"'}, "DISCORD_TOKEN"),
        ({"DISCORD_API_BASE": "ftp://x"}, "DISCORD_API_BASE"),
        ({"CANON_DIR": "/nonexistent/canon"}, "CANON_DIR"),
        ({"WATCH_INTERVAL_HOURS": "often"}, "WATCH_INTERVAL_HOURS"),
        ({"WATCH_INTERVAL_HOURS": "200"}, "WATCH_INTERVAL_HOURS"),
        ({"TVMAZE_API": "api.tvmaze.com"}, "TVMAZE_API must start with http:// or https://"),
        ({"WIKIDATA_API": "ftp://wikidata.org"}, "WIKIDATA_API"),
    ],
)
def test_malformed_values_name_the_setting(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        settings_from(**env)


def test_a_database_path_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DATABASE_PATH"):
        settings_from(DATABASE_PATH=str(tmp_path))


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=WARNING\nHOME_GUILD_IDS=123456789012345678\n")
    settings = load_settings({"LOG_LEVEL": "ERROR"}, env_file=env_file)
    assert settings.log_level == "ERROR" and settings.home_guild_ids == (123456789012345678,)


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "HOME_GUILD_IDS", "LOG_LEVEL")}
    clean.update({"DATABASE_PATH": str(tmp_path / "cli.sqlite3"), **env})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ask_answers_offline_and_seeds_the_database_on_first_use(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "ask", "citadel", "diana", PYTHONPATH=str(ROOT))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Citadel: Diana\n")
    for name in (
        "Matilda De Angelis — Diana Cavalieri",
        "Arnaldo Catinari",
        "Alessandro Fabbri",
        "Sources: [1]",
    ):
        assert name in result.stdout
    assert (tmp_path / "cli.sqlite3").is_file()
    assert result.stderr == ""


def test_ask_marks_what_is_not_confirmed_and_says_what_public_sources_say_today(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "ask", "citadel", "season-2", PYTHONPATH=str(ROOT))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "Status:\n    Released (rumour, not confirmed) [" in text
    assert "Premiere:\n    expected Q2 2026, not confirmed [" in text  # a rumoured release settles nothing
    assert "    Toronto (reported, not confirmed) [" in text
    assert "Showrunner:\n    David Weil [" in text


def test_watch_settings_are_read() -> None:
    settings = settings_from(
        WATCH_INTERVAL_HOURS="0", TVMAZE_API="http://127.0.0.1:9/", WIKIDATA_API="http://x"
    )
    assert (settings.watch_interval_hours, settings.tvmaze_api, settings.wikidata_api) == (
        0,
        "http://127.0.0.1:9",
        "http://x",
    )


def test_ask_search_and_a_helpful_line_for_an_unknown_entry(tmp_path: Path) -> None:
    found = run_cli(tmp_path, "ask", "citadel", "search", "Varun", PYTHONPATH=str(ROOT))
    assert found.returncode == 0 and "Citadel: Honey Bunny · Cast: Varun Dhawan — Bunny" in found.stdout
    unknown = run_cli(tmp_path, "ask", "citadel", "show", "narnia", PYTHONPATH=str(ROOT))
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "citadel-bot: I don't know an entry called “narnia”. Start typing a title, a country or a lead actor "
        "and pick from the list."
    )


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        ((), {}, "DISCORD_TOKEN is not set"),
        ((), {"DISCORD_TOKEN": "Bot x.y.z"}, "DISCORD_TOKEN is malformed"),
        (("sync",), {"DISCORD_TOKEN": TOKEN, "HOME_GUILD_IDS": "home"}, "HOME_GUILD_IDS has 'home'"),
        ((), {"DISCORD_TOKEN": TOKEN, "LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of"),
    ],
)
def test_bad_settings_end_with_one_line_and_exit_code_2(
    tmp_path: Path, args: tuple[str, ...], env: dict, says: str
) -> None:
    result = run_cli(tmp_path, *args, PYTHONPATH=str(ROOT), **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("citadel-bot: ") and says in lines[0], result.stderr
    assert "Traceback" not in result.stderr and TOKEN not in result.stderr
