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

    def workspace(self, create: bool = False, optional: bool = False) -> Path:
        """The checked workspace (langprune.workspace.workspace); only `run`, `demo` and the TUI
        pass `create`. A missing, non-directory or unwritable one is a LangpruneError (exit 2)."""
        from langprune.errors import LangpruneError
        from langprune.workspace import WorkspaceError, workspace

        try:
            return workspace(self.workspace_option, create=create, optional=optional)
        except WorkspaceError as exc:
            raise LangpruneError(exc.message, exc.fix) from None

    def workspace_path(self) -> Path:
        """Where the workspace is, unchecked (to find a preset saved there before checking it)."""
        from langprune.workspace import locate

        return locate(self.workspace_option)[0]


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


def fail_with_problems(problems: list[str]) -> NoReturn:
    """Print one line per problem to stderr and exit 2 (bad input; nothing was written)."""
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    sys.exit(2)


def warn(lines: list[str]) -> None:
    """Print warnings to stderr, one `warning:` line each (the command goes on)."""
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


def console():  # -> rich.console.Console, imported lazily
    """The CLI's console. Markup is off: every string printed (a model label, an experiment name,
    an error) is shown as the text it is, never read as Rich markup; styles are given as `style=`
    or as rich.text.Text."""
    from rich.console import Console

    return Console(markup=False)


def command_hint(ctx: typer.Context, command: str) -> str:
    """A `langprune ...` command to suggest, with the --workspace the user gave (so the hint
    reads the same workspace when pasted)."""
    import shlex

    option = state(ctx).workspace_option
    where = f"--workspace {shlex.quote(str(option))} " if option is not None else ""
    return f"langprune {where}{command}"
