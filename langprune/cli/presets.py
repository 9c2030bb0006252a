"""`langprune presets ...` and `langprune plan`."""

from __future__ import annotations

from pathlib import Path

import typer

from langprune.cli.common import console, state, warn

presets_app = typer.Typer(help="List, show and validate experiment presets.", no_args_is_help=True)


@presets_app.command("list")
def presets_list(ctx: typer.Context) -> None:
    """List the presets (shipped ones and those saved in the workspace)."""
    from rich.table import Table
    from rich.text import Text

    from langprune.engine.spec import presets

    ws = state(ctx).workspace(optional=True)
    table = Table("name", "runs", "description", "from")
    shipped = presets.builtin_dir()
    for name, path in presets.available(ws).items():
        where = "shipped" if path.parent == shipped else str(path)
        try:
            exp = presets.load(str(path))
            table.add_row(
                name,
                str(len(exp.runs())),
                exp.description.splitlines()[0] if exp.description else "",
                str(path),
            )
        except Exception as exc:  # a broken user preset must not hide the others
            invalid = Text(f"invalid: {str(exc).splitlines()[0]}", style="red")
            table.add_row(name, "-", invalid, where)
    console().print(table)


@presets_app.command("show")
def presets_show(
    ctx: typer.Context, name: str = typer.Argument(..., help="Preset name or path.")
) -> None:
    """Print a preset's TOML."""
    from langprune.engine.spec import presets

    path = presets.resolve(name, state(ctx).workspace(optional=True))
    presets.load(str(path))
    typer.echo(path.read_text(encoding="utf-8"), nl=False)


@presets_app.command("validate")
def presets_validate(path: Path = typer.Argument(..., help="A preset .toml file.")) -> None:
    """Validate a preset file and what it needs from this machine (models, corpus languages,
    context); exit 2 with one line per problem if it is invalid."""
    from langprune.engine.spec import preflight, presets

    exp = presets.load(str(path))
    warn(preflight.check(exp, launch=False))
    typer.echo(f"{path}: valid ({len(exp.runs())} runs)")


def plan(
    ctx: typer.Context, preset: str = typer.Argument(..., help="Preset name or path.")
) -> None:
    """Print the expanded grid of a preset and whether each run already exists in the workspace."""
    from langprune.engine.spec import preflight, presets
    from langprune.store.rundir import RunDir
    from langprune.tui.render import active_first, listing_table, state_text, workspace_line
    from langprune.workspace import runs_dir

    exp = presets.load(preset, state(ctx).workspace_path())
    warn(preflight.check(exp, launch=False))
    ws = state(ctx).workspace(optional=True)
    runs = exp.runs()
    table = listing_table(f"{exp.name}: {len(runs)} runs")
    table.add_column("id", no_wrap=True, min_width=12, style="bold")  # never cut: it is pasted
    for col in ("model", "method", "sparsity", "calib", "seed", "exists"):
        table.add_column(col, overflow="fold")
    states = {}
    for run in runs:
        rd = RunDir(runs_dir(ws) / run.id)
        states[run.id] = rd.state() if rd.exists() else "-"
    existing = sum(s != "-" for s in states.values())
    for run in active_first(runs, lambda r: states[r.id]):
        state_ = states[run.id]
        table.add_row(
            run.id,
            run.model.name,
            run.method,
            run.sparsity or "-",
            run.calibration_language or "-",
            "-" if run.seed is None else str(run.seed),
            state_text(state_) if state_ != "-" else "-",
        )
    out = console()
    out.print(workspace_line(ws))
    out.print(table)
    missing = "" if ws.is_dir() else ", which does not exist yet: langprune run creates it"
    out.print(
        f"{len(runs)} runs ({existing} already in the workspace {ws}{missing})", soft_wrap=True
    )
    from langprune.engine.run.launcher import plan_cells

    out.print(plan_cells(exp, ws).sentence())


def register(app: typer.Typer) -> None:
    app.add_typer(presets_app, name="presets")
    app.command("plan")(plan)
