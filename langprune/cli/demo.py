"""`langprune demo`: run the embedded demo experiment and print its comparison tables."""

from __future__ import annotations

import time

import typer

from langprune.cli.common import console, state

DEMO_PRESET = "demo"
# A second seed of one demo cell: the noise floor of the mask-overlap matrix.
SEED_PRESET = "demo-seed"
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
    ws = state(ctx).workspace(create=True)
    exp = presets.load(preset, ws)
    if exp.calibration.corpus.source == "handbook":
        how = ensure_handbook()  # DemoSetupError: reported by the CLI's error boundary
        if how == "installed":
            out.print("installed the demo corpus (debian-handbook) with apt-get")
    started = time.monotonic()
    grids = [exp] + ([presets.load(SEED_PRESET, ws)] if preset == DEMO_PRESET else [])
    queued: list[str] = []
    for grid in grids:
        result = launch(grid, ws)
        out.print(
            f"{grid.name}: {len(grid.runs())} runs, {len(result.queued)} to do, "
            f"{len(result.skipped)} already done or running (workspace {ws})"
        )
        queued += [rid for rid in result.queued if rid not in queued]  # the dense run is shared
    if queued:
        from langprune.cli.run import follow

        follow(ws, queued)
        out.print(f"grid finished in {time.monotonic() - started:.0f} s")
    print_tables(ws, exp, DEMO_METRIC)
    print_mask_overlap(ws, exp)
    where = "" if state(ctx).workspace_option is None else f" --workspace {ws}"
    out.print(
        f"\nOpen the TUI on these results:  .venv/bin/langprune{where}"
        "   (press 4 for the compare screen)"
    )


def print_tables(ws, exp, metric: str) -> None:
    """One comparison table per model x method x sparsity, each with its diagonal-wins line."""
    from rich.text import Text

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
                    out.print(f"{model.name} {method} {sparsity}: {exc}", style="yellow")
                    continue
                if table.is_empty:
                    out.print(
                        f"no {metric} results for {model.name} {method} {sparsity}", style="yellow"
                    )
                    for note in table.footnotes():
                        out.print(f"* {note}", style="dim")
                    continue
                out.print()
                out.print(compare_table(table, out.width))
                wins = diagonal_wins(table)
                out.print(
                    Text(f"{method} {sparsity}: {wins.sentence()}", style="bold")
                    + Text(
                        " (columns where calibrating in the evaluated language gave the best "
                        f"{metric})"
                    )
                )
                for note in table.footnotes():
                    out.print(f"* {note}", style="dim")


def print_mask_overlap(ws, exp) -> None:
    """The mask-overlap matrix of each method (diagonal: the seed noise floor) and one sentence."""
    from langprune.store.analysis_queries import analysis, render

    out = console()
    for model in exp.models:
        for method in exp.pruning.methods:
            matrices = analysis(ws, "masks", model=model.name, method=method, refresh=False)
            if not matrices:
                continue
            out.print()
            out.print(render(matrices[:1], "table"), end="", markup=False, highlight=False)
            out.print(overlap_sentence(matrices[0]))


def overlap_sentence(m) -> str:
    """What the matrix shows: seed noise floor vs the overlap across calibration languages."""
    import statistics

    floor = [m.cells[(r, r)].mean for r in m.rows if (r, r) in m.cells and m.cells[(r, r)].n]
    across = [c.mean for (r, k), c in m.cells.items() if r != k and c.n]
    if not across:
        return "mask overlap: only one calibration language, nothing to compare"
    mean_across = statistics.fmean(across)
    if not floor:
        return (
            f"mask overlap across calibration languages: {mean_across:.3f} on average "
            "(no second seed of any language: no noise floor)"
        )
    mean_floor = statistics.fmean(floor)
    verdict = "more" if mean_across < mean_floor else "not more"
    return (
        f"changing the calibration language moves the mask {verdict} than changing the seed: "
        f"Jaccard {mean_across:.3f} across languages vs {mean_floor:.3f} between seeds of one "
        "language (the noise floor)"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
