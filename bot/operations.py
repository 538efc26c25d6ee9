"""`python -m bot backup|restore|export|import`: the operator's commands for moving the store's data."""

from __future__ import annotations

import argparse
from typing import Any

from bot.config import Settings


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the data commands to `python -m bot`'s subcommands."""


def run_command(args: argparse.Namespace, settings: Settings) -> int | None:
    """Run the data command `args` names and return its exit code; None when it names another command."""
    return None
