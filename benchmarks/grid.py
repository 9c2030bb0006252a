"""What one worker reusing its loaded model saves, and what the local scheduler costs per run.

    .venv/bin/python benchmarks/grid.py [--model random:llama-tiny] [--method wanda] ...

1. Four calibration languages on one model, run twice: one worker that loads the model once and
   restores the dense weights between runs, and four worker processes with one run each (one after
   the other, same device). Reports both wall times and their ratio (target <= 0.6), and checks that
   both give the same metrics.
2. Scheduler overhead: a grid of tiny runs through `launch` (cold: the launch starts the scheduler),
   one fake GPU slot per run; per run, queue -> worker process started by the scheduler, and
   queue -> the worker's Python running (interpreter start-up included). Target < 1 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langprune.engine.run import registry
from langprune.engine.run.launcher import launch
from langprune.engine.spec.experiment import Experiment
from langprune.engine.spec.presets import from_dict
from langprune.store.rundir import FINAL_STATES, RunDir, create
from langprune.workspace import runs_dir


def experiment(
    name: str, model: str, method: str, languages: list[str], args: argparse.Namespace
) -> Experiment:
    return from_dict(
        {
            "name": name,
            "dense_baseline": False,
            "models": [{"id": model, "dtype": args.dtype, "device": args.device}],
            "pruning": {"methods": [method], "sparsity": [0.5]},
            "calibration": {
                "languages": languages,
                "nsamples": args.nsamples,
                "seqlen": args.seqlen,
                "corpus": {"source": args.corpus},
            },
            "evaluation": {"languages": ["en"], "max_tokens": args.max_tokens, "batch_size": 4},
        }
    )


def queue(workspace: Path, exp: Experiment) -> list[str]:
    ids = []
    for run in exp.runs():
        create(runs_dir(workspace), run.id, run.model_dump(mode="json"))
        ids.append(run.id)
    return ids


def worker(workspace: Path, run_ids: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "langprune.engine.run.worker",
            "--workspace",
            str(workspace),
            *run_ids,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def metrics(workspace: Path, run_id: str) -> list[tuple[Any, ...]]:
    rd = RunDir(runs_dir(workspace) / run_id)
    if rd.state() != "done":
        raise SystemExit(f"run {run_id} in {workspace}: {rd.state()}: {rd.status().get('error')}")
    return sorted((r["metric"], r["language"], r["value"]) for r in rd.read_metrics())


def reuse(args: argparse.Namespace, root: Path) -> None:
    exp = experiment("bench-reuse", args.model, args.method, args.languages, args)
    one, sep = root / "one-worker", root / "separate"
    ids = queue(one, exp)
    assert queue(sep, exp) == ids
    print(f"[1] {len(ids)} runs: {args.model} {args.method} 0.5, calibration {args.languages}")
    t_one = worker(one, ids)
    t_sep = sum(worker(sep, [rid]) for rid in ids)
    same = all(metrics(one, rid) == metrics(sep, rid) for rid in ids)
    load = RunDir(runs_dir(one) / ids[0]).status().get("seconds", {}).get("load")
    print(f"    one worker, model loaded once : {t_one:7.1f} s (model load {load or 0:.1f} s)")
    print(f"    {len(ids)} processes, one run each  : {t_sep:7.1f} s")
    print(f"    ratio                         : {t_one / t_sep:7.2f}  (target <= 0.60)")
    print(f"    identical metrics             : {same}")


def overhead(args: argparse.Namespace, root: Path) -> None:
    ws = root / "scheduler"
    langs = ["en", "de", "fr", "es"][: args.slots]
    exp = experiment("bench-overhead", "random:llama-tiny", "magnitude", langs, args)
    os.environ["LANGPRUNE_GPUS"] = ",".join(str(i) for i in range(args.slots))  # fake GPU slots
    t0 = time.time()
    result = launch(exp, ws)
    returned = time.time() - t0
    rds = [RunDir(runs_dir(ws) / rid) for rid in result.queued]
    deadline = time.time() + 300
    while any(rd.state() not in FINAL_STATES for rd in rds):
        if time.time() > deadline:
            raise SystemExit("scheduler benchmark: runs did not finish in 300 s")
        time.sleep(0.2)
    while registry.scheduler_info(ws) is not None and time.time() < deadline:
        time.sleep(0.2)  # let it ingest and leave before the folder goes away
    spawn = [rd.status()["spawned_at"] - rd.status()["queued_at"] for rd in rds]
    start = [rd.status()["worker_started_at"] - rd.status()["queued_at"] for rd in rds]
    print(f"[2] scheduler overhead, {len(rds)} runs on {args.slots} fake GPU slots (cold start)")
    print(f"    launch() returned after       : {returned:7.2f} s")
    print(
        f"    queue -> worker spawned       : mean {statistics.mean(spawn):.2f} s, max {max(spawn):.2f} s"
    )
    print(
        f"    queue -> worker Python runs   : mean {statistics.mean(start):.2f} s, max {max(start):.2f} s"
        "  (target < 1 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", default="random:llama-tiny")
    parser.add_argument("--method", default="wanda")
    parser.add_argument("--languages", nargs="+", default=["en", "de", "fr", "es"])
    parser.add_argument("--nsamples", type=int, default=8)
    parser.add_argument("--seqlen", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--corpus", default="synthetic")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--slots", type=int, default=4, help="fake GPU slots for part 2")
    parser.add_argument("--skip-reuse", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="langprune-bench-") as tmp:
        if not args.skip_reuse:
            reuse(args, Path(tmp))
        overhead(args, Path(tmp))


if __name__ == "__main__":
    main()
