"""Mask files and their overlap, recomputed from the boolean matrices themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from langprune.store.masks import (
    MatrixMask,
    encode,
    module_type,
    overlap,
    overlap_rows,
    read_masks,
    row_subset,
)
from langprune.store.rundir import RunDir

NAMES = ["self_attn.q_proj", "self_attn.k_proj", "mlp.gate_proj", "mlp.down_proj"]


def random_pruned(seed: int, shape=(64, 48), layers=2, share=0.5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"{i}.{n}": rng.random(shape) < share for i in range(layers) for n in NAMES}


def as_masks(pruned: dict[str, np.ndarray], fraction: float | None = None) -> dict[str, MatrixMask]:
    out = {}
    for key, p in pruned.items():
        rows = row_subset(key, p.shape[0], fraction, "model")
        out[key] = MatrixMask(p.shape, rows, p[rows])
    return out


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_round_trip_through_the_run_dir(tmp_path: Path) -> None:
    masks = as_masks(random_pruned(0), 0.25)
    rd = RunDir(tmp_path)
    rd.write_masks(encode(masks, 0.25))
    back, meta = read_masks(rd.masks)
    assert meta["row_fraction"] == 0.25
    assert set(back) == set(masks)
    for key, m in masks.items():
        np.testing.assert_array_equal(back[key].rows, m.rows)
        np.testing.assert_array_equal(back[key].pruned, m.pruned)
        assert back[key].shape == m.shape


def test_identical_masks_overlap_one_and_disjoint_zero() -> None:
    a = random_pruned(1)
    b = {k: ~v for k, v in a.items()}
    same = overlap_rows(as_masks(a), as_masks(a))
    apart = overlap_rows(as_masks(a), as_masks(b))
    assert all(r["jaccard"] == 1.0 and r["stderr"] == 0.0 for r in same)
    assert all(r["jaccard"] == 0.0 for r in apart)
    assert {(r["scope"], r["key"]) for r in same} == {("all", "all")} | {
        ("layer", "0"),
        ("layer", "1"),
    } | {("module", t) for t in ("q", "k", "gate", "down")}


def test_full_masks_give_the_exact_jaccard_per_scope() -> None:
    a, b = random_pruned(2), random_pruned(3)
    rows = {(r["scope"], r["key"]): r for r in overlap_rows(as_masks(a), as_masks(b))}
    every = np.concatenate([a[k].ravel() for k in a]), np.concatenate([b[k].ravel() for k in a])
    assert rows["all", "all"]["jaccard"] == pytest.approx(jaccard(*every))
    layer1 = [k for k in a if k.startswith("1.")]
    assert rows["layer", "1"]["jaccard"] == pytest.approx(
        jaccard(
            np.concatenate([a[k].ravel() for k in layer1]),
            np.concatenate([b[k].ravel() for k in layer1]),
        )
    )
    gate = [k for k in a if module_type(k.split(".", 1)[1]) == "gate"]
    assert rows["module", "gate"]["jaccard"] == pytest.approx(
        jaccard(
            np.concatenate([a[k].ravel() for k in gate]),
            np.concatenate([b[k].ravel() for k in gate]),
        )
    )
    assert rows["all", "all"]["subsampled"] is False


def test_subsampled_estimate_agrees_with_the_full_one_within_its_error() -> None:
    # correlated masks with row-level structure, so rows differ and the error is not trivial
    rng = np.random.default_rng(4)
    a, b = {}, {}
    for i in range(4):
        for n in NAMES:
            share = rng.uniform(0.2, 0.8, size=(256, 1))
            base = rng.random((256, 64)) < share
            flip = rng.random((256, 64)) < rng.uniform(0.0, 0.4, size=(256, 1))
            a[f"{i}.{n}"], b[f"{i}.{n}"] = base, base ^ flip
    keys = sorted(a)
    full = overlap(as_masks(a), as_masks(b), keys)
    misses, trials = 0, 0
    for fraction in (0.1, 0.25):
        for seed in range(20):
            sub_a, sub_b = {}, {}
            for key in keys:
                rows = row_subset(key, 256, fraction, f"model{seed}")
                sub_a[key] = MatrixMask((256, 64), rows, a[key][rows])
                sub_b[key] = MatrixMask((256, 64), rows, b[key][rows])
            est = overlap(sub_a, sub_b, keys)
            assert est.subsampled and est.stderr > 0
            trials += 1
            misses += abs(est.jaccard - full.jaccard) > 2 * est.stderr
    # |error| <= 2 se holds ~95% of the time for a correct standard error
    assert misses <= 0.15 * trials


def test_masks_of_different_row_subsets_are_refused() -> None:
    a = as_masks(random_pruned(5), 0.5)
    b = {k: MatrixMask(m.shape, np.sort(m.rows[::-1]) + 0, m.pruned) for k, m in a.items()}
    b = {
        k: MatrixMask(m.shape, row_subset(k, m.shape[0], 0.5, "other"), m.pruned)
        for k, m in b.items()
    }
    with pytest.raises(ValueError, match="different rows"):
        overlap_rows(a, b)


def test_row_fraction_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="mask row fraction"):
        row_subset("0.q", 10, 0.0, "m")
