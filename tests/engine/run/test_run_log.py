"""The run log a researcher reads, written by the real worker: one line per stage with its timing
and outcome, per-layer pruning progress, each language's result, a final summary; `logs -f`
streams until the run ends; progress-bar frames collapse to their last one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from langprune.store.rundir import RunDir, collapse_frames
from tests.engine.run.helpers import cli, env_for, runs, wait_for, write_preset


def test_collapse_frames_keeps_each_lines_last_frame() -> None:
    text = "a\n 10%|#  |\r 50%|## |\r100%|###|\nb\r\n\rc\n"
    assert collapse_frames(text) == "a\n100%|###|\nb\nc\n"
    assert collapse_frames("no frames\n") == "no frames\n"


def test_logs_follow_streams_a_real_run_to_its_end_with_every_stage(
    tmp_path: Path,
) -> None:
    ws = tmp_path / "ws"
    preset = write_preset(tmp_path, methods=("wanda",), languages=("en",), dense=False)
    # slow enough that `logs -f` starts while the run is queued or running
    env = env_for(ws, LANGPRUNE_SLOW_STAGES="prune=0.3,eval_ppl=0.3")
    assert cli(ws, "run", str(preset), env=env).returncode == 0
    (rd,) = wait_for(lambda: runs(ws), 60, "the run directory")
    follow = subprocess.run(
        [sys.executable, "-m", "langprune", "logs", "-f", rd.id],
        capture_output=True,
        text=True,
        env=env_for(ws),
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert follow.returncode == 0, follow.stderr
    # it returned only once the run had ended, with the whole log
    assert rd.state() == "done", rd.status()
    assert "ended: done" in follow.stderr or "is done" in follow.stderr
    out = follow.stdout
    assert out == collapse_frames(rd.log.read_text(encoding="utf-8"))
    lines = out.splitlines()
    assert lines[0].startswith("==== attempt 1 · ") and rd.id in lines[0]

    status = rd.status()
    info = status["calibration_samples"]["languages"]["en"]
    calib = next(line for line in lines if "] calibration: " in line)
    assert f"{info['samples']} x 32 tokens of en from {info['documents']}" in calib
    assert "seed 0" in calib
    # pruning: one line per layer of the tiny model (4 layers: fewer than ten), then the outcome
    layers = [line for line in lines if re.search(r"\] prune: layer \d+/\d+", line)]
    total = int(re.search(r"layer \d+/(\d+)", layers[0]).group(1))
    assert total <= 10 and len(layers) == total  # the rate: one line per tenth of the layers
    assert f"layer {total}/{total}" in layers[-1]
    achieved = f"achieved sparsity {status['achieved_sparsity']:.2%}"
    assert any(achieved in line for line in lines)
    # each evaluated language's result, as metrics.jsonl has it
    ppl = {r["language"]: r["value"] for r in rd.read_metrics() if r["metric"] == "ppl"}
    for lang, value in ppl.items():
        assert any(f"eval_ppl {lang}: ppl {value:.4g}" in line for line in lines), lang
    summary = lines[-1]
    assert summary.startswith("==== done in ")
    assert f"sparsity {status['achieved_sparsity']:.2%}" in summary
    assert f"ppl en {ppl['en']:.4g}" in summary
    for stage in ("calibration", "prune", "eval"):
        assert f"{stage} " in summary

    # a finished run: `logs -f` prints it and says there is nothing to follow
    again = cli(ws, "logs", "-f", rd.id)
    assert again.returncode == 0 and again.stdout == out
    assert "nothing to follow" in again.stderr


def test_logs_prints_progress_bars_at_their_last_frame(tmp_path: Path) -> None:
    from tests.tui import fakews

    ws = tmp_path / "ws"
    ids = fakews.build(ws)
    out = cli(ws, "logs", ids[0])
    assert out.returncode == 0, out.stderr
    assert "Loading weights: 100%|##########| 10/10" in out.stdout
    assert " 10%" not in out.stdout and "\r" not in out.stdout
    assert RunDir(ws / "runs" / ids[0]).log.read_bytes().count(b"\r") == 1


def test_pruning_progress_reaches_the_log_about_ten_times(tmp_path: Path) -> None:
    from langprune.engine.run.progress import Reporter
    from langprune.store.rundir import create

    rd = create(tmp_path / "runs", "r1", {"id": "r1"})
    report = Reporter(rd, memory=lambda: None)
    layers = 32
    for step in range(1, layers + 1):
        report(stage="prune", step=step, total=layers)
    logged = [int(m.group(1)) for m in re.finditer(r"prune: layer (\d+)/32", rd.log.read_text())]
    every = -(-layers // 10)  # a line per tenth of the layers, rounded up
    assert logged == list(range(every, layers + 1, every))
