"""Shared pieces of the CLI: the workspace option, the console, problem reporting."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import typer


@dataclass
class State:
    workspace_option: Path | None = None

    def workspace(self, create: bool = True) -> Path:
        from langprune.workspace import workspace

        return workspace(self.workspace_option, create=create)


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


def fail_with_problems(problems: list[str]) -> NoReturn:
    """Print one line per problem to stderr and exit 2 (bad input; nothing was written)."""
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    sys.exit(2)


def console():  # -> rich.console.Console, imported lazily
    from rich.console import Console

    return Console()
