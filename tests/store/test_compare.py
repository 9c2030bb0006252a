"""The comparison table against a hand computation on the fixture of known numbers."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest

from langprune.store.errors import AmbiguousComparison, StoreError
from langprune.store.queries import compare, filter_choices, metric_choices
from langprune.store.table import NO_CALIBRATION
from tests.store.helpers import BASE, acc_row, ppl_row, runs_of, write_known, write_run


@pytest.fixture
def known(workspace: Path) -> Path:
    write_known(workspace)
    return workspace


def test_ppl_cells_deltas_best_diagonal_and_means(known: Path) -> None:
    t = compare(known, "ppl", delta="abs")
    assert not t.higher_is_better
    assert (t.model, t.method, t.sparsity, t.corpus) == ("llama-tiny", "wanda", "0.5", "synthetic")
    assert t.rows == ["dense", "de", "en", "sw"]
    assert t.columns == ["de", "en"]

    en_en = t.cell("en", "en")
    assert en_en.mean == pytest.approx(11.0) and en_en.n == 2
    assert en_en.std == pytest.approx(statistics.stdev([10.0, 12.0]))
    assert en_en.values == (10.0, 12.0) and en_en.seeds == (0, 1)
    assert en_en.delta_abs == pytest.approx(3.0) and en_en.delta_rel == pytest.approx(3.0 / 8.0)
    assert en_en.diagonal and en_en.best and en_en.rank == 0

    en_de = t.cell("en", "de")
    assert en_de.mean == pytest.approx(22.0) and en_de.std == pytest.approx(math.sqrt(8))
    assert not en_de.diagonal and not en_de.best and en_de.rank == 1
    assert t.cell("de", "de").delta_rel == pytest.approx(5.0 / 12.0)
    assert t.cell("de", "en").std == 0.0

    dense = t.cell("dense", "en")
    assert dense.mean == 8.0 and dense.n == 1 and dense.std is None and dense.delta_abs is None
    assert dense.rank is None and not dense.best

    assert t.cell("sw", "de") is None  # the missing cell
    assert t.best == {"en": "en", "de": "de"}
    # de and sw tie in the en column: both rank 1, after en.
    assert t.cell("de", "en").rank == t.cell("sw", "en").rank == 1
    # With delta=abs the means are of deltas (dense row: of its values).
    assert t.row_means["dense"] == pytest.approx(10.0)
    assert t.row_means["en"] == pytest.approx((3.0 + 10.0) / 2)
    assert t.row_means["sw"] == pytest.approx(6.0)
    assert t.column_means["en"] == pytest.approx((3.0 + 6.0 + 6.0) / 3)
    assert t.column_means["de"] == pytest.approx((10.0 + 5.0) / 2)


def test_higher_is_better_metric(known: Path) -> None:
    t = compare(known, "acc")
    assert t.higher_is_better and t.delta is None
    assert t.best == {"en": "en", "de": "de"}
    assert t.cell("en", "en").mean == pytest.approx(0.65)
    assert t.cell("sw", "en").n == 1 and t.cell("sw", "en").std is None
    assert [t.cell(r, "en").rank for r in ("en", "sw", "de")] == [0, 1, 2]
    assert t.row_means["en"] == pytest.approx((0.65 + 0.4) / 2)
    assert t.column_means["de"] == pytest.approx((0.6 + 0.4) / 2)


def test_mixes_count_for_each_language_and_tasks_split_columns(workspace: Path) -> None:
    data = {**BASE, "calibration": {**BASE["calibration"], "languages": ["en+de"], "seeds": [0]}}
    for run in runs_of(data):
        write_run(workspace, run, [ppl_row("en", 5.0), ppl_row("de", 6.0), acc_row("de", 0.5)])
    t = compare(workspace, "ppl")
    assert t.cell("de+en", "en").diagonal and t.cell("de+en", "de").diagonal  # canonical mix
    # A second perplexity corpus makes the columns task/language.
    run = runs_of(data)[1]
    write_run(workspace, runs_of({**data, "name": "other"})[1], [])  # same id: no new dir
    from langprune.store.rundir import RunDir

    RunDir(workspace / "runs" / run.id).add_metric({**ppl_row("en", 7.0), "subtask": "udhr"})
    t = compare(workspace, "ppl")
    assert t.columns == ["perplexity:synthetic/de", "perplexity:synthetic/en", "perplexity:udhr/en"]
    assert compare(workspace, "ppl", task="udhr").columns == ["en"]


def test_several_methods_are_never_averaged(known: Path) -> None:
    data = {**BASE, "pruning": {"methods": ["magnitude"], "sparsity": ["2:4"]}}
    for run in runs_of(data)[1:2]:
        write_run(known, run, [ppl_row("en", 99.0)])
    with pytest.raises(AmbiguousComparison) as err:
        compare(known, "ppl")
    assert err.value.field == "method" and err.value.choices == ["magnitude", "wanda"]
    t = compare(known, "ppl", method="magnitude")
    # magnitude reads no calibration text: one "(no calibration)" row, never on the diagonal
    assert t.sparsity == "2:4" and t.has_dense and t.rows == ["dense", NO_CALIBRATION]
    assert t.cell(NO_CALIBRATION, "en").mean == 99.0 and not t.cell(NO_CALIBRATION, "en").diagonal
    assert compare(known, "ppl", sparsity=0.5).method == "wanda"
    assert compare(known, "ppl", method="dense").rows == ["dense"]


def test_empty_and_unknown(known: Path) -> None:
    with pytest.raises(StoreError, match=r"--sparsity '2:4' matches no run.*exist: 0.5"):
        compare(known, "ppl", sparsity="2:4")
    with pytest.raises(StoreError, match="did you mean 'wanda'"):
        compare(known, "ppl", method="wandaa")
    with pytest.raises(StoreError, match="--model 'nope' matches no run"):
        compare(known, "ppl", model="nope")
    with pytest.raises(StoreError, match="did you mean 'ppl'"):
        compare(known, "pll")


def test_choices(known: Path) -> None:
    assert metric_choices(known) == ["acc", "ppl"]
    choices = filter_choices(known)
    assert choices["calib"] == ["de", "en", "sw"]
    assert choices["method"] == ["dense", "wanda"]
    assert choices["task"] == ["perplexity:synthetic", "xnli"]
    assert choices["language"] == ["de", "en"]
