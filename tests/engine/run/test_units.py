"""Small pieces of the runner without processes: failures, progress events, Slurm options."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from langprune.engine.run import progress as progress_mod
from langprune.engine.run.progress import Reporter
from langprune.engine.run.slurm import resolve_params, time_minutes
from langprune.engine.run.worker import failure_fields, run_worker
from langprune.engine.spec.experiment import SlurmSpec
from langprune.store.rundir import RunDir, create, read_jsonl


class OutOfMemoryError(RuntimeError):
    """Stands in for torch.cuda.OutOfMemoryError (matched by name)."""


def test_cuda_oom_says_so_and_suggests_offload() -> None:
    try:
        raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    except OutOfMemoryError as exc:
        fields = failure_fields(exc, "cuda:0")
    assert fields["error"].startswith("OutOfMemoryError: CUDA out of memory")
    assert "offload = true" in fields["error"] and "cuda:0" in fields["error"]
    assert "test_cuda_oom_says_so" in fields["traceback"]


def test_exception_marks_the_run_failed_with_error_and_traceback(tmp_path: Path) -> None:
    from langprune.engine.spec.presets import from_dict

    exp = from_dict(
        {
            "name": "bad",
            "dense_baseline": False,
            "models": [{"id": "random:no-such-arch", "device": "cpu"}],
            "pruning": {"methods": ["magnitude"], "sparsity": [0.5]},
            "calibration": {"languages": ["en"], "corpus": {"source": "synthetic"}},
        }
    )
    (run,) = exp.runs()
    rd = create(tmp_path / "runs", run.id, run.model_dump(mode="json"))
    states = run_worker(tmp_path, [run.id], "w-test")
    status = rd.status()
    assert states == {run.id: "failed"} and status["state"] == "failed"
    assert "no-such-arch" in status["error"] and "\n" not in status["error"]
    assert "Traceback" in status["traceback"] and len(status["traceback"].splitlines()) <= 40
    assert "no-such-arch" in rd.log.read_text()
    assert not rd.is_locked()


def test_reporter_throttles_and_estimates_eta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rd = RunDir(tmp_path)
    rep = Reporter(rd, memory=lambda: 123)
    rep(stage="prune", step=0, total=4)
    for i in range(1, 4):
        time.sleep(0.01)
        rep(stage="prune", step=i, total=4, tokens_per_s=10.0)
    rep(stage="prune", step=4, total=4)
    events = read_jsonl(rd.events)[0]
    assert [e["step"] for e in events] == [0, 4]  # stage start and end; the rest within 0.5 s
    assert events[0]["mem_bytes"] == 123 and events[-1]["eta_s"] == 0.0
    # a quiet engine: the heartbeat repeats the last event so readers see progress
    monkeypatch.setattr(progress_mod, "QUIET_REPEAT_S", 0.0)
    rep(stage="eval_ppl", step=1, total=10)
    rep.repeat_if_quiet()
    events = read_jsonl(rd.events)[0]
    assert events[-1]["stage"] == "eval_ppl" and events[-1]["step"] == 1
    assert events[-1]["time"] >= events[-2]["time"]


def test_slurm_options_from_preset_and_cli() -> None:
    spec = SlurmSpec(partition="gpu", time="04:00:00", extra={"constraint": "h100"})
    params = resolve_params(spec, {"qos": "high", "time": None, "extra": {"exclusive": ""}})
    assert params["partition"] == "gpu" and params["qos"] == "high" and params["time"] == "04:00:00"
    assert params["extra"] == {"constraint": "h100", "exclusive": ""}
    with pytest.raises(ValueError, match="not a Slurm time limit"):
        resolve_params(spec, {"time": "soon"})
    with pytest.raises(ValueError, match="unknown"):
        resolve_params(spec, {"gpus": 2})
    assert [time_minutes(t) for t in ("90", "30:30", "04:00:00", "1-00:00", 15)] == [
        90,
        31,
        240,
        1440,
        15,
    ]
