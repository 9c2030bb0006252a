"""An OWL run's allocation from status.json into the store: the run's listing and the owl view."""

from __future__ import annotations

from pathlib import Path

import pytest

from langprune.store.analysis_queries import analysis, render
from langprune.store.ingest import ingest
from langprune.store.queries import owl_allocations
from tests.conftest import run_cli
from tests.store.helpers import BASE, ppl_row, runs_of, write_run

OWL_BASE = {**BASE, "pruning": {"methods": ["wanda", "wanda_owl"], "sparsity": [0.5]}}


def _allocation(lang: str, seed: int) -> dict:
    shift = {"en": 0.0, "de": 0.01, "sw": 0.02}[lang] + 0.001 * seed
    sparsity = [0.55 - shift, 0.5, 0.45 + shift]
    return {"m": 5.0, "lam": 0.08, "outlier_pct": [0.5 + shift, 0.6, 0.7],
            "layer_sparsity": sparsity}  # fmt: skip


def _write(ws: Path) -> dict[str, dict]:
    truth = {}
    for run in runs_of(OWL_BASE):
        owl = _allocation(run.calibration_language, run.seed) if run.method == "wanda_owl" else None
        write_run(ws, run, [ppl_row("en", 10.0)], owl=owl)
        if owl:
            truth[run.id] = owl
    return truth


def test_owl_allocations_are_ingested_per_run_and_profiled_by_calibration_language(
    workspace: Path,
) -> None:
    truth = _write(workspace)
    ingest(workspace)
    got = owl_allocations(workspace, list(truth))
    assert set(got) == set(truth)
    for run_id, owl in truth.items():
        assert got[run_id]["layer_sparsity"] == pytest.approx(owl["layer_sparsity"])
        assert got[run_id]["outlier_pct"] == pytest.approx(owl["outlier_pct"])
    sparsity, outliers = analysis(workspace, "owl")
    assert sparsity.group["method"] == "wanda_owl"  # plain wanda has no allocation
    assert sparsity.rows == ["de", "en", "sw"] and sparsity.cols == ["0", "1", "2"]
    de = [_allocation("de", s)["layer_sparsity"][0] for s in (0, 1)]
    assert sparsity.cells["de", "0"].mean == pytest.approx(sum(de) / 2)
    assert sparsity.cells["de", "0"].n == 2
    assert outliers.cells["sw", "0"].mean == pytest.approx(0.5 + 0.02 + 0.0005)
    assert "OWL layer sparsity" in render([sparsity], "table")


def test_cli_lists_the_allocation_and_analyze_owl_prints_the_profile(workspace: Path) -> None:
    truth = _write(workspace)
    run_id = sorted(truth)[0]
    out = run_cli("results", f"id={run_id}", workspace=workspace)
    assert out.returncode == 0, out.stderr
    layers = " ".join(f"{v:.3f}" for v in truth[run_id]["layer_sparsity"])
    assert f"owl {run_id}: layer sparsity {layers}" in out.stdout
    values = truth[run_id]["layer_sparsity"]  # and their spread, as the TUI's card says it
    low, high = min(values), max(values)
    stats = (
        f"min {low:.3f} (layer {values.index(low)}) · max {high:.3f} (layer {values.index(high)})"
        f" · mean {sum(values) / len(values):.4f}"
    )
    assert f"owl {run_id}: {stats}" in out.stdout
    out = run_cli("analyze", "owl", "--format", "csv", workspace=workspace)
    assert out.returncode == 0, out.stderr
    assert "OWL layer sparsity by calibration language,llama-tiny,wanda_owl,0.5,en,0" in out.stdout
