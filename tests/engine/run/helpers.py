"""Helpers for the runner tests: a tiny preset, the CLI, polling run directories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langprune.store.rundir import FINAL_STATES, RunDir, iter_run_dirs

TINY = """
name = "{name}"

[[models]]
id = "random:llama-tiny"
dtype = "float32"
device = "cpu"

[pruning]
methods = {methods}
sparsity = [0.5]

[calibration]
languages = {languages}
nsamples = 4
seqlen = 32
seeds = [0]

[calibration.corpus]
source = "synthetic"

[evaluation]
languages = ["en"]
max_tokens = 256
batch_size = 4
"""


def write_preset(
    folder: Path,
    name: str = "tiny",
    methods: tuple[str, ...] = ("wanda",),
    languages: tuple[str, ...] = ("en",),
    dense: bool = True,
) -> Path:
    text = TINY.format(
        name=name, methods=json.dumps(list(methods)), languages=json.dumps(list(languages))
    )
    if not dense:
        text = "dense_baseline = false\n" + text
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def env_for(workspace: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["LANGPRUNE_HOME"] = str(workspace)
    env.setdefault("LANGPRUNE_GPUS", "")  # a CPU slot unless a test fakes GPUs
    env.update(extra)
    return env


def cli(workspace: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "langprune", *args],
        capture_output=True,
        text=True,
        env=env or env_for(workspace),
        timeout=timeout,
    )


def runs(workspace: Path) -> list[RunDir]:
    return list(iter_run_dirs(workspace / "runs"))


def wait_for(pred: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def all_final(workspace: Path, n: int | None = None) -> bool:
    rds = runs(workspace)
    return (
        bool(rds) and (n is None or len(rds) == n) and all(rd.state() in FINAL_STATES for rd in rds)
    )


def describe(workspace: Path) -> str:
    """Run states, errors and log tails, for assertion messages."""
    out = []
    for rd in runs(workspace):
        st = rd.status()
        out.append(f"{rd.id} {st.get('state')} {st.get('error') or ''}")
        if st.get("state") == "failed" and rd.log.exists():
            out.append(rd.log.read_text(errors="replace")[-1500:])
    sched = workspace / "runner" / "scheduler.log"
    if sched.exists():
        out.append("scheduler.log: " + sched.read_text(errors="replace")[-1500:])
    return "\n".join(out)


def metric_values(rd: RunDir) -> list[tuple[str, str, str, float]]:
    return sorted(
        (r["kind"], r.get("language") or "", r["metric"], r["value"]) for r in rd.read_metrics()
    )


def scheduler_gone(workspace: Path) -> bool:
    from langprune.engine.run import registry

    return registry.scheduler_info(workspace) is None
