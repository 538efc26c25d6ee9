"""`pip install .` (not editable) into a fresh virtual environment, then `python -m bot ask citadel diana` from
another folder: the wheel must carry every module, the canon and the migrations, and its build must print no
deprecation warning. One venv for the module; the package registry (or pip's cache) provides the deps."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import DEFAULT_CANON_DIR, DEFAULT_DATABASE_PATH, _defaults

ROOT = Path(__file__).resolve().parents[1]
# The wheel is built from exactly the files the Dockerfile's build context lets in (.dockerignore lists them):
# so the image's `pip install .` is checked to have all it needs, and nothing local (.venv, .env, a database)
# reaches the build.
NOT_SOURCE = shutil.ignore_patterns("__pycache__", "*.py[co]")


def _copy_build_context(destination: Path) -> Path:
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    ]
    for pattern in allowed:
        for path in ROOT.glob(pattern):
            target = destination / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                shutil.copytree(path, target, ignore=NOT_SOURCE)
            else:
                shutil.copy2(path, target)
    return destination


# pip's words when the registry cannot be reached (an offline machine): then the tests skip.
UNREACHABLE = (
    "No matching distribution found",
    "Could not find a version that satisfies",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Max retries exceeded",
)
DEPRECATION_WORDS = ("deprecat", "namespace", "Package would be ignored", "absent from the `packages`")


@dataclass(frozen=True)
class Installed:
    python: Path
    wheel: Path
    source: Path
    build_log: str


def _pip(python: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PIP_NO_CACHE_DIR")}
    result = subprocess.run(
        [str(python), "-m", "pip", *args], capture_output=True, text=True, env=env, timeout=600
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        if any(words in output for words in UNREACHABLE):
            pytest.skip(
                f"cannot install into a fresh venv (package registry unreachable?): pip {args[0]} failed"
            )
        pytest.fail(f"pip {' '.join(args)} failed:\n{output[-4000:]}")
    return output


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("packaging")
    source = _copy_build_context(base / "source")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    # The wheel `pip install .` would build (setuptools from the registry, in an isolated build env),
    # built on its own first so that its log and its contents can be checked; then installed with its deps.
    build_log = _pip(
        python, "wheel", "--no-deps", "--verbose", "--wheel-dir", str(base / "wheels"), str(source)
    )
    wheel = next((base / "wheels").glob("citadel_bot-*.whl"))
    _pip(python, "install", "--no-compile", str(wheel))
    return Installed(python, wheel, source, build_log)


def _run(installed: Installed, cwd: Path, *args: str, **settings: str) -> str:
    """Run the installed Python in `cwd` with a bare environment: nothing of the checkout or of .env."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LANG": "C.UTF-8", **settings}
    result = subprocess.run(
        [str(installed.python), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_build_prints_no_deprecation_warning(installed: Installed) -> None:
    assert "setuptools" in installed.build_log  # the build backend's own output is in the log
    lines = installed.build_log.lower().splitlines()
    assert not [line for line in lines if any(word.lower() in line for word in DEPRECATION_WORDS)]


def test_the_wheel_ships_every_module_the_canon_and_the_migrations(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    source = installed.source
    expected = {p.relative_to(source).as_posix() for d in ("bot", "cogs") for p in (source / d).rglob("*.py")}
    expected |= {f"bot/canon_data/{p.name}" for p in (source / "data" / "canon").glob("*.toml")}
    expected |= {
        f"bot/store/migrations/{p.name}" for p in (source / "bot" / "store" / "migrations").glob("*.sql")
    }
    assert "bot/canon_data/sources.toml" in expected
    assert sorted(expected - names) == []
    assert {name.split("/")[0] for name in names if not name.startswith("citadel_bot-")} == {"bot", "cogs"}
    assert "License-Expression: MIT" in metadata.splitlines()


def test_the_installed_bot_answers_from_any_folder(installed: Installed, tmp_path: Path) -> None:
    database = tmp_path / "state" / "citadel.sqlite3"
    anywhere = tmp_path / "anywhere"
    answer = _run(installed, anywhere, "-m", "bot", "ask", "citadel", "diana", DATABASE_PATH=str(database))

    canon = tomllib.loads((installed.source / "data" / "canon" / "diana.toml").read_text(encoding="utf-8"))
    assert answer.splitlines()[0] == canon["title"] == "Citadel: Diana"
    facts = [f for f in canon["facts"] if f["field"] in ("network", "language") or "role" in f]
    assert len(facts) >= 3
    assert not [f["value"] for f in facts if f["value"] not in answer]
    assert "Sources: [1]" in answer
    assert database.is_file() and not (anywhere / "data").exists()


def test_the_installed_bot_reads_its_packaged_canon_and_keeps_its_database_where_it_starts(
    installed: Installed, tmp_path: Path
) -> None:
    where = _run(
        installed,
        tmp_path,
        "-c",
        "import bot.config as c; print(c.__file__, c.DEFAULT_CANON_DIR, c.DEFAULT_DATABASE_PATH, sep='\\n')",
    ).splitlines()
    site_packages = Path(where[0]).parent.parent
    assert site_packages.name == "site-packages"
    assert Path(where[1]) == site_packages / "bot" / "canon_data"
    assert where[2] == "data/citadel.sqlite3"  # relative to the folder the bot starts from

    assert "Citadel: Diana" in _run(installed, tmp_path, "-m", "bot", "ask", "citadel", "diana")
    assert (tmp_path / "data" / "citadel.sqlite3").is_file()


def test_a_checkout_uses_its_own_data_folder(tmp_path: Path) -> None:
    assert (DEFAULT_CANON_DIR, DEFAULT_DATABASE_PATH) == (
        ROOT / "data" / "canon",
        ROOT / "data" / "citadel.sqlite3",
    )
    checkout = tmp_path / "checkout"
    (checkout / "data" / "canon").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    assert _defaults(checkout) == (checkout / "data" / "canon", checkout / "data" / "citadel.sqlite3")
    # Anywhere else (site-packages), the canon shipped beside the code and a database under the working folder.
    assert _defaults(tmp_path) == (ROOT / "bot" / "canon_data", Path("data", "citadel.sqlite3"))
