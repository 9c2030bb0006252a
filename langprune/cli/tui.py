"""`langprune tui`: open the Textual app (bare `langprune` in a terminal opens it too)."""

from __future__ import annotations

import typer

from langprune.cli.common import state

SCREENS = ("compose", "runs", "results", "compare")


def tui(
    ctx: typer.Context,
    screen: str = typer.Option(
        "runs", "--screen", "-s", help=f"Screen to open first: {', '.join(SCREENS)}."
    ),
) -> None:
    """Open the terminal UI: compose, launch, watch and compare runs. Quitting never stops a run."""
    open_tui(ctx, screen)


def open_tui(ctx: typer.Context, screen: str = "runs") -> None:
    if screen not in SCREENS:
        from langprune.cli.common import fail_with_problems

        fail_with_problems([f"--screen: unknown screen {screen!r} (allowed: {', '.join(SCREENS)})"])
    from langprune.tui.app import run
    from langprune.workspace import locate

    st = state(ctx)
    named = locate(st.workspace_option)[1]
    # The TUI launches runs, so it may create the default workspace; a named one must exist.
    run(st.workspace(create=not named), start=screen)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("tui")(tui)
