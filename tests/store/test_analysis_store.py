"""Analysis rows and mask overlaps in DuckDB, read back and checked against the stored masks."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from langprune.store.analysis_queries import analysis, render
from langprune.store.ingest import ingest, rebuild
from langprune.store.masks import MatrixMask, encode, read_masks, row_subset
from langprune.workspace import db_path
from tests.store.helpers import ppl_row, runs_of, write_run

NAMES = ["self_attn.q_proj", "mlp.down_proj"]


def _write_grid(ws: Path, fraction: float | None = None) -> dict[str, np.ndarray]:
    """en/de/sw x seeds 0, 1; masks drawn so that a language's masks share a base pattern."""
    truth = {}
    base = {lang: np.random.default_rng(i).random((3, 32, 16)) < 0.5 for i, lang in
            enumerate(("en", "de", "sw"))}  # fmt: skip
    for run in runs_of():
        rd = write_run(ws, run, [ppl_row("en", 10.0)])
        if run.is_dense:
            continue
        rng = np.random.default_rng([sum(map(ord, run.calibration_language)), run.seed])
        masks = {}
        flips = rng.random((3, 32, 16)) < 0.1
        pruned = base[run.calibration_language] ^ flips
        for layer in range(3):
            for n in NAMES:
                key = f"{layer}.{n}"
                rows = row_subset(key, 32, fraction, "m")
                masks[key] = MatrixMask((32, 16), rows, pruned[layer][rows])
        rd.write_masks(encode(masks, fraction))
        rd.write_analysis(
            [{"analysis": "drift", "language": "en", "layer": i, "module": None,
              "metric": "rel_error", "value": 0.1 * (i + 1), "n": 64} for i in range(3)]
            + [{"analysis": "neurons", "language": "de", "layer": None, "module": None,
                "metric": "kept", "value": 0.4 if run.calibration_language == "de" else 0.3}]
        )  # fmt: skip
        rd.set_status("done")
        truth[run.id] = pruned
    return truth


def test_overlaps_in_duckdb_match_an_independent_computation(workspace: Path) -> None:
    truth = _write_grid(workspace)
    ingest(workspace)
    with duckdb.connect(str(db_path(workspace)), read_only=True) as con:
        rows = con.execute(
            "SELECT run_a, run_b, jaccard, stderr FROM mask_overlap WHERE scope = 'all'"
        ).fetchall()
        layer1 = dict(
            ((a, b), j)
            for a, b, j in con.execute(
                "SELECT run_a, run_b, jaccard FROM mask_overlap WHERE scope='layer' AND key='1'"
            ).fetchall()
        )
        n_analysis = con.execute("SELECT count(*) FROM analysis").fetchone()[0]
    assert len(rows) == 6 * 5 // 2  # every pair of the six pruned cells
    for a, b, j, se in rows:
        x, y = truth[a], truth[b]
        assert j == pytest.approx((x & y).sum() / (x | y).sum())
        assert se == 0.0
        assert layer1[a, b] == pytest.approx((x[1] & y[1]).sum() / (x[1] | y[1]).sum())
    assert n_analysis == 6 * 4


def test_matrix_has_noise_floor_on_the_diagonal_and_survives_rebuild(workspace: Path) -> None:
    truth = _write_grid(workspace)
    runs = {r.id: r for r in runs_of()}
    m, profile, modules = analysis(workspace, "masks")
    assert m.rows == m.cols == ["de", "en", "sw"]
    de = [i for i in truth if runs[i].calibration_language == "de"]
    x, y = truth[de[0]], truth[de[1]]
    assert m.cells["de", "de"].mean == pytest.approx((x & y).sum() / (x | y).sum())
    assert m.cells["de", "de"].n == 1 and m.cells["de", "en"].n == 4
    # same base pattern within a language: seeds move the mask less than languages do
    assert m.cells["de", "de"].mean > m.cells["de", "en"].mean
    assert profile.cols == ["0", "1", "2"]
    assert profile.rows == ["across languages", "same language, seeds"]
    # per module type: every module of a layer carries the layer's pattern here, so each type's
    # overlap is the whole-model one, averaged over the pairs of each row
    ids = list(truth)

    def jac(a: str, b: str) -> float:
        x, y = truth[a], truth[b]
        return float((x & y).sum() / (x | y).sum())

    lang = {i: runs[i].calibration_language for i in ids}
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
    across = np.mean([jac(a, b) for a, b in pairs if lang[a] != lang[b]])
    seeds = np.mean([jac(a, b) for a, b in pairs if lang[a] == lang[b]])
    assert modules.col_label == "module" and modules.rows == profile.rows
    assert modules.cols == [
        t for t in ("q", "k", "v", "o", "gate", "up", "down") if t in modules.cols
    ]
    assert modules.cols
    for t in modules.cols:
        assert modules.cells["across languages", t].mean == pytest.approx(across)
        assert modules.cells["same language, seeds", t].mean == pytest.approx(seeds)
    before = render([m, profile, modules], "json")
    db_path(workspace).unlink()
    rebuild(workspace)
    assert render(analysis(workspace, "masks", refresh=False), "json") == before
    for fmt in ("table", "csv", "md", "latex"):
        assert "de" in render([m], fmt)


def test_subsampled_masks_carry_their_error(workspace: Path) -> None:
    truth = _write_grid(workspace, fraction=0.5)
    m, *_ = analysis(workspace, "masks")
    for a in truth:
        masks, meta = read_masks(workspace / "runs" / a / "masks.npz")
        assert meta["row_fraction"] == 0.5
        assert all(len(v.rows) == 16 for v in masks.values())
    assert all(c.spread > 0 for c in m.cells.values())
    # a ± that rounds to 0.000 is said once under the matrix, never printed as ±0.000
    from dataclasses import replace

    for tiny, shown in ((1e-5, False), (0.002, True)):
        cells = {k: replace(c, spread=tiny) for k, c in m.cells.items()}
        text = render([replace(m, cells=cells)], "table")
        assert "±0.000" not in text
        assert ("±0.002" in text) is shown and ("not shown" in text) is not shown
    # some tiny, some not: only the tiny ones are left out, and the line says which
    first = next(iter(m.cells))
    cells = {k: replace(c, spread=0.002 if k == first else 1e-5) for k, c in m.cells.items()}
    text = render([replace(m, cells=cells)], "table")
    assert text.count("±0.002") == 1 and "±0.000" not in text and "cells without one" in text


def test_neurons_and_drift_views(workspace: Path) -> None:
    _write_grid(workspace)
    (neurons,) = analysis(workspace, "neurons", method="wanda", sparsity="0.5")
    assert neurons.rows == ["de", "en", "sw"] and neurons.cols == ["de"]
    assert neurons.cells["de", "de"].mean == pytest.approx(0.4)
    assert neurons.cells["en", "de"].mean == pytest.approx(0.3)
    (drift,) = analysis(workspace, "drift")
    assert drift.cols == ["0", "1", "2"]
    assert drift.cells["sw@en", "2"].mean == pytest.approx(0.3)
    assert analysis(workspace, "drift", method="magnitude") == []


def test_cli_analyze_prints_and_writes(workspace: Path, cli) -> None:
    _write_grid(workspace)
    r = cli("analyze", "masks", "--method", "wanda", "--sparsity", "50%")
    assert r.returncode == 0, r.stderr
    assert "noise floor" in r.stdout and "across languages" in r.stdout
    out = workspace / "m.tex"
    r = cli("analyze", "drift", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "\\begin{tabular}" in out.read_text()
    r = cli("analyze", "neurons", "--format", "json")
    assert '"col": "de"' in r.stdout
    r = cli("analyze", "drift", "--method", "magnitude")
    assert r.returncode == 1 and "no drift analysis rows" in r.stderr
    r = cli("analyze", "mask")
    assert r.returncode == 2
    r = cli("analyze", "masks", "--sparsity", "2:x")
    assert r.returncode == 2 and "sparsity" in r.stderr


def test_demo_prints_the_overlap_matrix_and_its_sentence(workspace: Path, capsys) -> None:
    from langprune.cli.demo import overlap_sentence, print_mask_overlap
    from langprune.engine.spec.experiment import Experiment
    from tests.store.helpers import BASE

    _write_grid(workspace)
    ingest(workspace)
    (m, *_) = analysis(workspace, "masks", refresh=False)
    sentence = overlap_sentence(m)
    floor = [m.cells[r, r].mean for r in m.rows]
    across = [c.mean for (r, k), c in m.cells.items() if r != k]
    assert "moves the mask more than changing the seed" in sentence
    assert f"{sum(across) / len(across):.3f}" in sentence and f"{sum(floor) / 3:.3f}" in sentence
    print_mask_overlap(workspace, Experiment.model_validate(BASE))
    assert "noise floor" in capsys.readouterr().out
