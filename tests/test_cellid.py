"""Cell ids: what a pruned model is, apart from its evaluation; run ids of old presets unchanged."""

from __future__ import annotations

import hashlib
import json

from langprune.cellid import cell_id
from tests.store.helpers import BASE, runs_of

# Ids the grid had before cell ids existed (computed with commit d8a12cc): they must not move.
OLD_IDS = {
    ("dense", None, None): "94f658aaa7bf",
    ("wanda", "en", 0): "60deec0b45a3",
    ("wanda", "sw", 1): "7f29a0d2540c",
    ("magnitude", "en", 0): "19f4b31b7027",
}


def test_run_ids_unchanged_and_magnitude_once() -> None:
    data = {**BASE, "pruning": {"methods": ["wanda", "magnitude"], "sparsity": [0.5]}}
    runs = runs_of(data)
    ids = {(r.method, r.calibration_language, r.seed): r.id for r in runs}
    for key, old in OLD_IDS.items():
        assert ids[key] == old
    # magnitude reads no calibration text: one run per model and sparsity, not 3 languages x 2 seeds
    assert [r.method for r in runs].count("magnitude") == 1
    assert [r.method for r in runs].count("wanda") == 6


def test_evaluation_changes_the_run_not_the_cell() -> None:
    a = runs_of(BASE)
    b = runs_of({**BASE, "evaluation": {"languages": ["en", "de", "sw"]}})
    assert [r.id for r in a] != [r.id for r in b]
    assert [r.cell_id for r in a] == [r.cell_id for r in b]
    # seeds and languages are distinct cells
    assert len({r.cell_id for r in a}) == len(a)


def test_cell_id_hashes_the_pruning_fields_only() -> None:
    run = runs_of(BASE)[1]
    config = run.config()
    expected = {k: config[k] for k in ("model", "method", "sparsity", "calibration_language",
                                       "corpus", "nsamples", "seqlen", "seed")}  # fmt: skip
    canonical = json.dumps(expected, sort_keys=True, separators=(",", ":"))
    assert run.cell_id == hashlib.sha256(canonical.encode()).hexdigest()[:12]
    labelled = {**config, "model": {**config["model"], "label": "x"}}
    assert cell_id(labelled) == run.cell_id
    other_size = {**config, "nsamples": 64}
    assert cell_id(other_size) != run.cell_id
    magnitude = {**config, "method": "magnitude"}
    assert cell_id({**magnitude, "calibration_language": "de", "seed": 5}) == cell_id(magnitude)
