"""Fixture run dirs with known numbers, written through store/rundir.py as a worker would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langprune.engine.spec.experiment import Experiment, Run
from langprune.store import rundir

BASE: dict[str, Any] = {
    "name": "known",
    "models": [{"id": "random:llama-tiny"}],
    "pruning": {"methods": ["wanda"], "sparsity": [0.5]},
    "calibration": {
        "languages": ["en", "de", "sw"],
        "seeds": [0, 1],
        "corpus": {"source": "synthetic"},
    },
    "evaluation": {"languages": ["en", "de"]},
}

# ppl (lower is better) per (calibration, seed) -> {evaluated language: value}.
# sw has no de value at all (a missing cell); dense has one value per language (n = 1).
PPL = {
    ("en", 0): {"en": 10.0, "de": 20.0},
    ("en", 1): {"en": 12.0, "de": 24.0},
    ("de", 0): {"en": 14.0, "de": 16.0},
    ("de", 1): {"en": 14.0, "de": 18.0},
    ("sw", 0): {"en": 13.0},
    ("sw", 1): {"en": 15.0},
    (None, None): {"en": 8.0, "de": 12.0},
}
# acc on xnli (higher is better); sw seed 1 has none (n = 1 there).
ACC = {
    ("en", 0): {"en": 0.6, "de": 0.4},
    ("en", 1): {"en": 0.7, "de": 0.4},
    ("de", 0): {"en": 0.5, "de": 0.5},
    ("de", 1): {"en": 0.5, "de": 0.7},
    ("sw", 0): {"en": 0.55},
    (None, None): {"en": 0.8, "de": 0.7},
}


def runs_of(data: dict[str, Any] | None = None) -> list[Run]:
    return Experiment.model_validate(data or BASE).runs()


def ppl_row(lang: str, value: float, metric: str = "ppl") -> dict[str, Any]:
    return {
        "kind": "perplexity", "task": "perplexity", "subtask": "synthetic", "language": lang,
        "metric": metric, "value": value, "stderr": None, "n": 1000,
        "extra": {"tokens": 1000, "bytes": 4000, "windows": 4, "seqlen": 256,
                  "protocol": "non-overlapping"},
    }  # fmt: skip


def acc_row(lang: str, value: float) -> dict[str, Any]:
    return {
        "kind": "task", "task": "xnli", "subtask": f"xnli_{lang}", "language": lang,
        "metric": "acc", "value": value, "stderr": 0.01, "n": 100,
        "extra": {"filter": "none", "num_fewshot": 0, "limit": 100},
    }  # fmt: skip


def write_run(
    workspace: Path, run: Run, metrics: list[dict[str, Any]], state: str = "done", **status: Any
) -> rundir.RunDir:
    rd = rundir.create(workspace / "runs", run.id, run.model_dump(mode="json"))
    for row in metrics:
        rd.add_metric(row)
    rd.set_status(state, host="box", device="cpu", achieved_sparsity=0.5, **status)
    return rd


def write_known(workspace: Path) -> list[Run]:
    """The fixture of known numbers (module docstring); returns its runs."""
    runs = runs_of()
    for run in runs:
        key = (run.calibration_language, run.seed)
        rows = [ppl_row(lang, v) for lang, v in PPL.get(key, {}).items()]
        rows += [acc_row(lang, v) for lang, v in ACC.get(key, {}).items()]
        write_run(workspace, run, rows)
    return runs
