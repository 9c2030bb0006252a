"""`langprune doctor`: check the installation and say how to fix each problem."""

from __future__ import annotations

import typer

from langprune.cli.common import console, state


def doctor(ctx: typer.Context) -> None:
    """Check Python, packages, torch/CUDA, GPUs, the hub, disk, logout survival, Slurm and the demo."""
    from langprune.engine.doctor import FAIL, OK, WARN, all_checks

    out = console()
    from rich.text import Text

    marks = {OK: ("ok  ", "green"), WARN: ("warn", "yellow"), FAIL: ("FAIL", "red")}
    failed = 0
    for group in all_checks(state(ctx).workspace(optional=True)):
        for check in group():
            out.print(Text.assemble(marks[check.level], f" {check.name}: {check.detail}"))
            if check.fix and check.level != OK:
                out.print(f"     fix: {check.fix}", highlight=False, style="dim")
            failed += check.level == FAIL
    out.print(f"\n{failed} problem(s)" if failed else "\nall is well")
    raise typer.Exit(1 if failed else 0)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
