"""A deterministic workspace for snapshot tests: real Run specs from a preset, fixed numbers.

Snapshots must not change between machines, so these run directories are written with
`store/rundir.py` (the format the worker writes) with fixed timestamps and metric values, instead
of timing-dependent output of a real worker (the Pilot tests use the real worker).
"""

from __future__ import annotations

import math
from pathlib import Path

from langprune.engine.spec import presets
from langprune.store.rundir import RunDir, create

T0 = 1_760_000_000.0
EVAL = ("en", "de", "es")


def experiment(name: str = "snap", label: str | None = None):
    model = {"id": "random:llama-tiny", "dtype": "float32", "device": "cpu"}
    if label is not None:
        model["label"] = label
    return presets.from_dict(
        {
            "name": name,
            "models": [model],
            "pruning": {"methods": ["wanda", "sparsegpt"], "sparsity": [0.5, "2:4"]},
            "calibration": {
                "languages": ["en", "de", "es"],
                "nsamples": 8,
                "seqlen": 64,
                "seeds": [0, 1],
                "corpus": {"source": "synthetic"},
            },
            "evaluation": {"languages": list(EVAL), "max_tokens": 2048},
        }
    )


def _ppl(
    method: str, sparsity: str | None, calib: str | None, lang: str, seed: int | None
) -> float:
    """A made-up but structured perplexity: calibrating in the language helps it most."""
    base = {"en": 20.0, "de": 30.0, "es": 26.0}[lang]
    if method == "dense":
        return base
    hit = 1.6 if sparsity == "2:4" else 1.3
    hit *= 1.0 if method == "sparsegpt" else 1.1
    if calib == lang:
        hit *= 0.9
    return round(base * hit + 0.37 * (seed or 0) + 0.05 * len(calib or ""), 4)


def _ppl_row(lang: str, ppl: float) -> dict:
    """One perplexity metric row on the synthetic corpus."""
    return {
        "kind": "perplexity",
        "task": "perplexity",
        "subtask": "synthetic",
        "language": lang,
        "metric": "ppl",
        "value": ppl,
        "stderr": None,
        "n": 2048,
        "extra": None,
    }


def build(
    ws: Path, *, states: dict[int, str] | None = None, name: str = "snap", label: str | None = None
) -> list[str]:
    """Write the grid's run dirs; `states` overrides the state of run i (running, failed, ...);
    `name` and `label` name the experiment and its model."""
    runs_root = ws / "runs"
    (ws / "presets").mkdir(parents=True, exist_ok=True)
    ids = []
    for i, run in enumerate(experiment(name, label).runs()):
        rd: RunDir = create(runs_root, run.id, run.model_dump(mode="json"))
        ids.append(run.id)
        state = (states or {}).get(i, "done")
        status = {
            "state": state,
            "queued_at": T0 + i,
            "updated_at": T0 + i + 30,
            "host": "box",
            "device": "cpu",
            "pid": 0,
        }
        if state == "done":
            status.update(
                done_at=T0 + i + 30,
                achieved_sparsity=0.0 if run.is_dense else 0.5,
                seconds={
                    "load": 1.0,
                    "calibration": 2.0,
                    "prune": 10.0,
                    "eval": 7.0,
                    "total": 20.0,
                },
            )
            for lang in EVAL:
                ppl = _ppl(run.method, run.sparsity, run.calibration_language, lang, run.seed)
                rd.add_metric(_ppl_row(lang, ppl))
                rd.add_metric(
                    {
                        "kind": "perplexity",
                        "task": "perplexity",
                        "subtask": "synthetic",
                        "language": lang,
                        "metric": "bpb",
                        "value": round(math.log2(ppl) / 3.5, 5),
                        "stderr": None,
                        "n": 8000,
                        "extra": None,
                    }
                )
            events = [
                {"time": T0 + i + 1, "stage": "load", "step": 1, "total": 1},
                {"time": T0 + i + 29, "stage": "done", "step": 1, "total": 1},
            ]
        elif state == "running":
            status["running_at"] = T0 + i + 1
            events = [
                {
                    "time": T0 + i + 5,
                    "stage": "prune",
                    "step": 3,
                    "total": 4,
                    "tokens_per_s": 512.0,
                    "eta_s": 42.0,
                    "mem_bytes": 1_288_490_189,
                }
            ]
        elif state == "failed":
            status.update(error="RuntimeError: CUDA out of memory (try offload = true)")
            events = [{"time": T0 + i + 5, "stage": "prune", "step": 1, "total": 4}]
        else:
            events = []
        rd.write_status(status)
        for ev in events:
            rd.add_event(**ev)
        head = (
            f"==== attempt 1 · 2025-10-09 08:53:20 UTC · run {run.id} on box (worker cpu0-w, pid 0)"
            " ====\n"
            "Loading weights:  10%|#         | 1/10\rLoading weights: 100%|##########| 10/10\n"
            f"[08:53:21] load: {run.model.id} on cpu (torch.float32) in 1.0s · a long line that "
            "goes on past the edge of an 80-column terminal, so that wrapping it shows more\n"
        )
        rd.log.write_text(
            head + "".join(f"[{run.id}] line {k}: stage output\n" for k in range(12)),
            encoding="utf-8",
        )
    return ids


# An OWL run's recorded allocation (what engine/run/pipeline.py writes into status.json): outlier
# ratios per decoder layer and the layer sparsities OWL derives from them at 0.5 and lambda 0.08.
OWL_OUTLIER_PCT = [1.25, 3.5, 2.75, 6.0, 4.25, 2.0]
OWL_ACHIEVED = 0.50003


def owl_layer_sparsity(outlier_pct: list[float], target: float, lam: float) -> list[float]:
    """The reference's allocation (engine/prune/owl.py docstring), in plain Python."""
    low, high = min(outlier_pct), max(outlier_pct)
    scaled = [(r - low) / (high - low) * 2 * lam for r in outlier_pct]
    mean = sum(scaled) / len(scaled)
    return [round(1 - (k - mean + (1 - target)), 6) for k in scaled]


OWL_LAYER_SPARSITY = owl_layer_sparsity(OWL_OUTLIER_PCT, 0.5, 0.08)


def add_owl_run(ws: Path, m: float = 7.0, lam: float = 0.08) -> str:
    """One done wanda_owl run (calibrated in de, experiment 'owl') with its OWL allocation and
    metrics; its spec carries m and lambda as the engine writes them. Returns its id."""
    exp = presets.from_dict(
        {
            "name": "owl",
            "models": [{"id": "random:llama-tiny", "dtype": "float32", "device": "cpu"}],
            "pruning": {
                "methods": ["wanda_owl"],
                "sparsity": [0.5],
                "owl": {"m": m, "lambda": lam},
            },
            "calibration": {
                "languages": ["de"],
                "nsamples": 8,
                "seqlen": 64,
                "seeds": [0],
                "corpus": {"source": "synthetic"},
            },
            "evaluation": {"languages": list(EVAL), "max_tokens": 2048},
            "dense_baseline": False,
        }
    )
    run = next(r for r in exp.runs() if r.method == "wanda_owl")
    rd = create(ws / "runs", run.id, run.model_dump(mode="json"))
    t = T0 + 100
    rd.write_status(
        {
            "state": "done",
            "queued_at": t,
            "running_at": t + 1,
            "done_at": t + 30,
            "updated_at": t + 30,
            "host": "box",
            "device": "cpu",
            "pid": 0,
            "achieved_sparsity": OWL_ACHIEVED,
            "seconds": {"load": 1.0, "calibration": 2.0, "prune": 12.0, "eval": 7.0, "total": 22.0},
            "owl": {
                "m": m,
                "lam": lam,
                "outlier_pct": OWL_OUTLIER_PCT,
                "layer_sparsity": owl_layer_sparsity(OWL_OUTLIER_PCT, 0.5, lam),
            },
        }
    )
    for lang in EVAL:
        ppl = _ppl("wanda", "0.5", "de", lang, 0)
        rd.add_metric(_ppl_row(lang, ppl))
    rd.add_event(time=t + 29, stage="done", step=1, total=1)
    rd.log.write_text(f"[{run.id}] pruned with OWL\n", encoding="utf-8")
    return run.id
