"""Benchmark the results store at paper-grid scale and beyond.

    python benchmarks/store.py [--runs 10000] [--rows 100] [--dir DIR] [--keep]

Writes RUNS run directories with ROWS metric rows each (default 1M rows) the way workers leave
them, then measures: a first ingest into an empty database, a no-change ingest, an incremental
ingest of a few updated runs, the comparison query (median over repeats; target < 100 ms), a
filtered run listing, a rebuild, and the database size on disk. Prints the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from langprune.engine.spec.experiment import Experiment
from langprune.store.ingest import ingest, rebuild
from langprune.store.queries import compare, list_runs
from langprune.workspace import db_path

LANGS = ["ar", "de", "en", "es", "ru", "sw", "zh"]
FAMILIES = [
    "belebele",
    "xnli",
    "xstorycloze",
    "m_mmlu",
    "arc_multilingual",
    "hellaswag_multilingual",
]


def metric_lines(i: int, rows: int) -> str:
    """`rows` metric lines of run number i: perplexity first, then task accuracies."""
    out = []
    for lang in LANGS:
        for metric in ("ppl", "bpb", "nll"):
            out.append({"kind": "perplexity", "task": "perplexity", "subtask": "mc4",
                        "language": lang, "metric": metric, "value": 10.0 + (i * 7 + len(out)) % 13,
                        "stderr": None, "n": 131072,
                        "extra": {"tokens": 131072, "bytes": 500000, "windows": 64, "seqlen": 2048,
                                  "protocol": "non-overlapping"}})  # fmt: skip
    for family in FAMILIES:
        for lang in LANGS:
            for metric in ("acc", "acc_norm"):
                out.append({"kind": "task", "task": family, "subtask": f"{family}_{lang}",
                            "language": lang, "metric": metric,
                            "value": ((i * 31 + len(out)) % 100) / 100, "stderr": 0.01, "n": 1000,
                            "extra": {"filter": "none", "num_fewshot": 0, "limit": None}})  # fmt: skip
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in out[:rows])


def make_workspace(ws: Path, n_runs: int, rows: int) -> int:
    """Write the run dirs (plain writes: this measures the store, not the worker's fsyncs)."""
    seeds = -(-n_runs // (5 * 2 * 2 * len(LANGS)))
    exp = Experiment.model_validate(
        {
            "name": "bench",
            "models": [{"id": f"org/model-{m}"} for m in range(5)],
            "pruning": {"methods": ["wanda", "sparsegpt"], "sparsity": [0.5, "2:4"]},
            "calibration": {"languages": LANGS, "seeds": list(range(seeds))},
            "evaluation": {"languages": LANGS},
            "dense_baseline": True,
        }
    )
    runs = exp.runs()[:n_runs]
    root = ws / "runs"
    root.mkdir(parents=True)
    now = time.time()
    for i, run in enumerate(runs):
        d = root / run.id
        d.mkdir()
        (d / "spec.json").write_text(json.dumps(run.model_dump(mode="json")))
        status = {"state": "done", "queued_at": now, "running_at": now, "done_at": now,
                  "updated_at": now, "host": "gpu01", "device": "cuda:0",
                  "achieved_sparsity": 0.5, "seconds": {"total": 60.0}}  # fmt: skip
        (d / "status.json").write_text(json.dumps(status))
        (d / "metrics.jsonl").write_text(metric_lines(i, rows))
    return len(runs)


def timed(fn, repeat: int = 1) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def size_of(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument(
        "--dir", type=Path, default=None, help="Workspace to create (default: a temp dir)."
    )
    ap.add_argument("--keep", action="store_true", help="Keep the workspace afterwards.")
    args = ap.parse_args()

    ws = args.dir or Path(tempfile.mkdtemp(prefix="langprune-bench-"))
    ws = ws / "ws"
    try:
        t = time.perf_counter()
        n = make_workspace(ws, args.runs, args.rows)
        print(f"wrote {n} run dirs x {args.rows} rows in {time.perf_counter() - t:.1f} s ({ws})")
        db = db_path(ws)

        first = ingest(ws)
        print(f"first ingest: {first.metric_rows:,} metric rows, {len(first.updated):,} runs "
              f"in {first.seconds:.2f} s ({first.metric_rows / first.seconds:,.0f} rows/s)")  # fmt: skip
        same = statistics.median(timed(lambda: ingest(ws), 5))
        print(f"no-change ingest (scan {n:,} run dirs): median {same * 1000:.0f} ms")

        touched = sorted((ws / "runs").iterdir())[:10]
        for d in touched:
            with open(d / "metrics.jsonl", "a") as fh:
                fh.write(metric_lines(0, 1).replace('"ppl"', '"ppl_extra"'))
        inc = ingest(ws)
        print(f"incremental ingest of {len(inc.updated)} updated runs: {inc.seconds * 1000:.0f} ms")

        filters = {"model": "model-1", "method": "wanda", "sparsity": "0.5"}
        lat = timed(lambda: compare(ws, "ppl", refresh=False, **filters), args.repeat)
        print(f"compare ppl (7x7 + dense over ~{n // 20:,} runs): median "
              f"{statistics.median(lat) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms "
              f"(target < 100 ms)")  # fmt: skip
        lat = timed(lambda: compare(ws, "acc", refresh=False, **filters), args.repeat)
        print(f"compare acc (6 tasks x 7 languages): median {statistics.median(lat) * 1000:.1f} ms")
        lat = timed(lambda: compare(ws, "ppl", **filters), 5)
        print(f"compare ppl with the no-change ingest first: median "
              f"{statistics.median(lat) * 1000:.1f} ms")  # fmt: skip
        lat = timed(lambda: list_runs(ws, "method=wanda calib=sw seed<3", refresh=False), 10)
        print(f"list_runs with a filter: median {statistics.median(lat) * 1000:.1f} ms")
        print(f"database size: {size_of(db) / 2**20:.1f} MiB "
              f"({size_of(db) / max(1, first.metric_rows):.1f} bytes per metric row)")  # fmt: skip
        t = time.perf_counter()
        rebuild(ws)
        print(f"store rebuild: {time.perf_counter() - t:.2f} s")
    finally:
        if not args.keep:
            shutil.rmtree(ws.parent if args.dir is None else ws, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
