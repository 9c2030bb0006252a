"""tui/render.py: the CLI and the TUI draw the grid with one colour scale and one state palette."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from langprune.store.queries import compare
from langprune.tui import render
from tests.store.helpers import write_known


def test_cli_and_tui_colour_each_cell_alike(workspace: Path) -> None:
    write_known(workspace)
    table = compare(workspace, "ppl")
    tui, _ = render.build_table(table)
    cli = render.compare_table(table)
    for (row, column), cell in table.cells.items():
        expected = render.cell_style(table, cell, column)
        if row != "dense" and cell.rank is not None:
            # the scale's colour, recomputed from the rank: position rank/(size-1) on SCALE
            size = table.column_size(column)
            pos = 0 if size == 1 else round(cell.rank / (size - 1) * (len(render.SCALE) - 1))
            assert expected.color is not None
            assert expected.color.name == render.SCALE[pos]
            assert bool(expected.bold) == cell.best
        if cell.diagonal:
            assert expected.bgcolor is not None and expected.bgcolor.name == render.DIAGONAL_BG
    # both layouts print every cell's value
    console = Console(width=200, record=True, color_system=None)
    console.print(tui)
    console.print(cli)
    out = console.export_text()
    from langprune.store.export import cell_text

    for cell in table.cells.values():
        assert cell_text(table, cell)[0] in out


def test_one_palette_for_run_states() -> None:
    from langprune.store.rundir import STATES

    assert set(render.STATE_STYLE) == set(STATES)
    for state in STATES:
        assert render.state_text(state).style == render.STATE_STYLE[state]
    assert render.dash(None) == render.dash("") == "-" and render.dash(0) == "0"


def test_owl_section_before_pruning_and_for_many_layers(tmp_path: Path) -> None:
    """A queued OWL run: its m and lambda, no ratios yet; 32 layers at 80 columns: every layer's
    number once, in order, in blocks no wider than the terminal."""
    import dataclasses

    from langprune.store import records
    from langprune.store.rundir import RunDir
    from tests.tui import fakews

    rd = RunDir(tmp_path / "runs" / fakews.add_owl_run(tmp_path, m=5.0, lam=0.1))
    rec = records.read(rd)
    queued = dataclasses.replace(rec, status={"state": "queued"}, achieved=None)
    console = Console(width=80, record=True, color_system=None)
    console.print(render.owl_section(queued))
    out = console.export_text()
    assert "m = 5.0  lambda = 0.1" in out and "not recorded yet" in out
    layers = [round(0.4 + 0.2 * i / 31, 4) for i in range(32)]
    owl = {"layer_sparsity": layers, "outlier_pct": [1.0] * 32}
    many = dataclasses.replace(rec, status={**rec.status, "owl": owl})
    console = Console(width=80, record=True, color_system=None)
    console.print(render.owl_section(many))
    lines = console.export_text().splitlines()
    assert all(len(ln) <= 80 for ln in lines)
    shown = [v for ln in lines if ln.strip().startswith("sparsity ") for v in ln.split()[1:]]
    assert shown == [f"{v:.3f}" for v in layers]
    assert render.sparkline(layers)[0] == "▁" and render.sparkline(layers)[-1] == "█"
    assert render.sparkline([0.5, 0.5]) == "▄▄"
    assert render.owl_section(dataclasses.replace(rec, method="wanda")) is None


def test_cli_grid_is_one_line_per_cell_when_it_fits_else_the_spread_goes_below(
    workspace: Path,
) -> None:
    from langprune.store.export import cell_text

    write_known(workspace)
    table = compare(workspace, "ppl")
    spread_cells = [c for c in table.cells.values() if cell_text(table, c)[1] is not None]
    assert spread_cells
    for width, stacked in ((200, False), (40, True)):
        console = Console(width=width, record=True, color_system=None)
        console.print(render.compare_table(table, width))
        lines = console.export_text().splitlines()
        for cell in spread_cells:
            value, spread = cell_text(table, cell)
            together = any(value in line and f"±{spread}" in line for line in lines)
            assert together is not stacked, (width, value, spread)
            # nothing cut: every value and its ± part printed whole
            assert any(value in line for line in lines) and any(f"±{spread}" in ln for ln in lines)
