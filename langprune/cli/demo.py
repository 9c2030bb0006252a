"""`langprune demo`: run the embedded demo experiment and print its comparison tables."""

from __future__ import annotations

import time

import typer

from langprune.cli.common import console, state

DEMO_PRESET = "demo"
DEMO_METRIC = "bpb"


def demo(
    ctx: typer.Context,
    preset: str = typer.Option(DEMO_PRESET, "--preset", help="Run another preset the demo way."),
) -> None:
    """Run the demo grid (Gemma-3-270M on the Debian handbook, offline) and print the tables."""
    from langprune.engine.data.handbook import ensure_handbook
    from langprune.engine.run.launcher import launch
    from langprune.engine.spec import presets

    out = console()
    ws = state(ctx).workspace()
    exp = presets.load(preset, ws)
    if exp.calibration.corpus.source == "handbook":
        how = ensure_handbook()  # DemoSetupError: reported by the CLI's error boundary
        if how == "installed":
            out.print("installed the demo corpus (debian-handbook) with apt-get")
    started = time.monotonic()
    result = launch(exp, ws)
    out.print(
        f"{exp.name}: {len(exp.runs())} runs, {len(result.queued)} to do, "
        f"{len(result.skipped)} already done or running (workspace {ws})"
    )
    if result.queued:
        from langprune.cli.run import follow

        follow(ws, result.queued)
        out.print(f"grid finished in {time.monotonic() - started:.0f} s")
    print_tables(ws, exp, DEMO_METRIC)
    out.print(
        "\nOpen the TUI on these results:  .venv/bin/langprune   (press 4 for the compare screen)"
        + ("" if state(ctx).workspace_option is None else f"  --workspace {ws}")
    )


def print_tables(ws, exp, metric: str) -> None:
    """One comparison table per model x method x sparsity, each with its diagonal-wins line."""
    from langprune.store.errors import StoreError
    from langprune.store.findings import diagonal_wins
    from langprune.store.queries import compare
    from langprune.tui.render import compare_table

    out = console()
    for model in exp.models:
        for method in exp.pruning.methods:
            for sparsity in exp.pruning.sparsity:
                try:
                    table = compare(
                        ws, metric, model=model.name, method=method, sparsity=sparsity,
                        delta="abs", experiment=exp.name,
                    )  # fmt: skip
                except StoreError as exc:
                    out.print(f"[yellow]{model.name} {method} {sparsity}: {exc}[/yellow]")
                    continue
                if table.is_empty:
                    out.print(
                        f"[yellow]no {metric} results for {model.name} {method} {sparsity}[/yellow]"
                    )
                    for note in table.footnotes():
                        out.print(f"[dim]* {note}[/dim]")
                    continue
                out.print()
                out.print(compare_table(table))
                wins = diagonal_wins(table)
                out.print(
                    f"[bold]{method} {sparsity}: {wins.sentence()}[/bold] "
                    f"(columns where calibrating in the evaluated language gave the best {metric})"
                )
                for note in table.footnotes():
                    out.print(f"[dim]* {note}[/dim]")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
