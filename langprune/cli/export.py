"""`langprune export RUN DIR [--push REPO]`: a run's pruned model as a Hugging Face folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from langprune.cli.common import state


def export(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    directory: Path = typer.Argument(..., help="New or empty folder to write the model to."),
    push: str | None = typer.Option(
        None, "--push", help="Also upload the folder to this Hub repo (owner/name, private)."
    ),
) -> None:
    """Write the run's pruned model (safetensors, config, tokenizer, model card) to DIRECTORY:
    from its saved weights when it kept them, else pruned again, deterministically."""
    from langprune.engine.run.export import export_run
    from langprune.engine.run.export import push as push_folder
    from langprune.engine.run.launcher import find_runs
    from langprune.store.rundir import CHECKPOINT

    ws = state(ctx).workspace()
    (rd,) = find_runs(ws, [run_id])
    if push is not None and push.count("/") != 1:
        from langprune.errors import LangpruneError

        raise LangpruneError(f"--push {push!r}: a Hub repo is owner/name, e.g. me/llama3-wanda-de")
    if (rd.read_spec() or {}).get("method") != "dense" and not (rd.path / CHECKPOINT).is_file():
        typer.echo(f"run {rd.id} kept no pruned weights: pruning it again (deterministic)")
    done = export_run(rd, ws, directory)
    typer.echo(
        f"exported run {rd.id} ({done.source}, sparsity {done.achieved_sparsity:.4f}) to {done.path}"
    )
    if push is not None:
        url = push_folder(done.path, push)
        typer.echo(f"pushed to {url}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    command: Any = app.command
    command("export")(export)
