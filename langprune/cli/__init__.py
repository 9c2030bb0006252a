"""The `langprune` command. Heavy libraries are imported inside commands, never at start-up."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import typer

from langprune import __version__
from langprune.cli.common import State
from langprune.errors import LangpruneError, disk_error

app = typer.Typer(
    name="langprune",
    help="Which calibration language should you use to prune a multilingual LLM?",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"langprune {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    workspace: Path | None = typer.Option(
        None,
        "--workspace",
        "-w",
        help="Where run directories and results.duckdb live (default: $LANGPRUNE_HOME, else "
        "$XDG_DATA_HOME/langprune).",
        show_default=False,
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    ctx.obj = State(workspace_option=workspace)
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():  # a person at a terminal: open the TUI
            from langprune.cli.tui import open_tui

            open_tui(ctx)
            return
        typer.echo(ctx.get_help())


def _register() -> None:
    from langprune.cli import analyze as cli_analyze
    from langprune.cli import demo as cli_demo
    from langprune.cli import doctor as cli_doctor
    from langprune.cli import export as cli_export
    from langprune.cli import presets as cli_presets
    from langprune.cli import results as cli_store
    from langprune.cli import run as cli_run
    from langprune.cli import tui as cli_tui

    for module in (
        cli_presets,
        cli_store,
        cli_run,
        cli_tui,
        cli_doctor,
        cli_demo,
        cli_analyze,
        cli_export,
    ):
        module.register(app)


_register()


def main() -> None:
    """The one error boundary: a LangpruneError prints its message (one `error:` line per line,
    a SpecError one per problem) and its fix, and exits 2 (StoreBusy: 1); so does a disk that
    refused a write anywhere in a command (full, over quota, read-only, failing: a DiskError
    naming the cause and the path); other exceptions are bugs and keep their traceback."""
    try:
        app()
    except LangpruneError as exc:
        report(exc)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        problem = disk_error(exc)
        if problem is None:
            raise
        report(problem)


def report(exc: LangpruneError) -> NoReturn:
    """Print a user error to stderr and exit with its code (2; StoreBusy 1)."""
    from langprune.store.errors import StoreBusy

    for line in exc.message.splitlines() or [exc.message]:
        print(f"error: {line}", file=sys.stderr)
    if exc.fix:
        print(f"fix: {exc.fix}", file=sys.stderr)
    sys.exit(1 if isinstance(exc, StoreBusy) else exc.exit_code)
