"""`langprune analyze masks|neurons|drift|owl`: the analysis views (store/analysis_queries.py)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from langprune.cli.common import fail_with_problems, state


class View(str, Enum):
    masks = "masks"
    neurons = "neurons"
    drift = "drift"
    owl = "owl"


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    md = "md"
    latex = "latex"


_SUFFIX = {".csv": "csv", ".json": "json", ".md": "md", ".markdown": "md", ".tex": "latex"}


def analyze(
    ctx: typer.Context,
    view: View = typer.Argument(..., help="masks | neurons | drift | owl"),
    model: str | None = typer.Option(None, "--model", help="Model label or id."),
    method: str | None = typer.Option(
        None, "--method", help="A pruning method: magnitude, wanda, sparsegpt, ria, wanda_owl, ..."
    ),
    sparsity: str | None = typer.Option(None, "--sparsity", help="0.5, 50% or 2:4."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file (format from --format or the suffix)."
    ),
) -> None:
    """Mask overlap between calibration languages (with the seed noise floor), language-specific
    neurons kept, per-layer drift from the dense model, or OWL's per-layer sparsity and outlier
    ratio by calibration language."""
    from langprune.store.analysis_queries import analysis, render

    ws = state(ctx).workspace()
    fmt_name = fmt.value
    if output is not None and fmt == Format.table:
        fmt_name = _SUFFIX.get(output.suffix.lower(), "")
        if not fmt_name:
            fail_with_problems(
                [
                    f"--output {output}: cannot tell the format from its suffix "
                    f"(allowed: {', '.join(sorted(_SUFFIX))}); add --format"
                ]
            )
    # a StoreError (bad filter value, busy database) is reported by the CLI's one boundary
    matrices = analysis(ws, view.value, model=model, method=method, sparsity=sparsity)
    text = render(matrices, fmt_name)
    if not matrices:
        print(f"no {view.value} analysis rows match these filters", file=sys.stderr)
        raise typer.Exit(1)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")
    else:
        sys.stdout.write(text)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    command: Any = app.command
    command("analyze")(analyze)
