"""The Slurm executor on a real cluster (ci/slurm.sh start): submit, finish, cancel, preempt."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from langprune.engine.run import slurm, state
from langprune.store.rundir import RunDir
from tests.engine.run.helpers import all_final, cli, describe, env_for, runs, wait_for, write_preset

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.skipif(
        not slurm.available() and not os.environ.get("LANGPRUNE_REQUIRE_SLURM"),
        reason="no Slurm cluster is running here (start one as root with: ci/slurm.sh start)",
    ),
]
# A small node: ask for little. Time 60 min so that a USR2 counts as preemption, not time-out.
SBATCH = (
    "--executor",
    "slurm",
    "--slurm-mem-gb",
    "1",
    "--slurm-cpus-per-task",
    "1",
    "--slurm-time",
    "60",
)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return tmp_path / "ws"


def test_cluster_is_up() -> None:
    # CI (.ci/run as root) starts a cluster and sets LANGPRUNE_REQUIRE_SLURM: fail, never skip.
    assert slurm.available(), "no Slurm cluster answers sinfo (ci/slurm.sh start)"


def _job(rd: RunDir) -> str:
    return str(rd.status()["job_id"])


def test_grid_runs_as_a_job_array_and_a_fresh_process_reattaches(ws: Path, tmp_path: Path) -> None:
    preset = write_preset(tmp_path, methods=("wanda",), languages=("en", "de"))  # 3 runs
    out = cli(ws, "run", str(preset), *SBATCH)
    assert out.returncode == 0, out.stderr
    rds = runs(ws)
    assert len(rds) == 3
    jobs = [_job(rd) for rd in rds]
    assert len({j.split("_")[0] for j in jobs}) == 1, f"one array expected: {jobs}"
    # A new process knows nothing but the workspace: it follows the grid to its end.
    attached = cli(ws, "attach", timeout=240)
    assert attached.returncode == 0, attached.stderr
    assert "finished: 3 done" in attached.stdout, describe(ws)
    for rd in rds:
        st = rd.status()
        assert st["state"] == "done" and st["executor"] == "slurm"
        assert len(st["cuda_visible_devices"].split(",")) == 1  # one (fake) GPU per task
    logs = cli(ws, "logs", rds[0].id)
    assert "== attempt 1 · " in logs.stdout and f"run {rds[0].id} on " in logs.stdout
    from langprune.store.queries import list_runs

    stored = {r["id"]: r for r in list_runs(ws)}
    assert set(stored) == {rd.id for rd in rds} and {r["state"] for r in stored.values()} == {
        "done"
    }


def test_cancel_a_running_task_and_the_others_go_on(ws: Path, tmp_path: Path) -> None:
    preset = write_preset(tmp_path, methods=("wanda",), languages=("en", "de"), dense=False)
    env = env_for(ws, LANGPRUNE_SLOW_STAGES="prune=1.5")
    assert cli(ws, "run", str(preset), *SBATCH, env=env).returncode == 0
    first, second = runs(ws)
    wait_for(lambda: (first.last_event() or {}).get("stage") == "prune", 120, "pruning to start")
    t0 = time.time()
    out = cli(ws, "cancel", first.id, "--yes")
    assert "cancelled" in out.stdout, out.stderr
    assert first.state() == "cancelled" and time.time() - t0 < 5
    wait_for(lambda: not state.jobs_alive([_job(first)])[_job(first)], 20, "the task to leave")
    wait_for(lambda: second.state() in ("done", "failed", "cancelled"), 120, "the other task")
    assert second.state() == "done", describe(ws)
    assert first.state() == "cancelled"


def test_preempted_task_is_requeued_and_resumes_after_its_last_stage(
    ws: Path, tmp_path: Path
) -> None:
    preset = write_preset(tmp_path, methods=("wanda",), dense=False)
    env = env_for(ws, LANGPRUNE_SLOW_STAGES="eval_ppl=3")
    assert cli(ws, "run", str(preset), *SBATCH, env=env).returncode == 0
    (rd,) = runs(ws)
    wait_for(lambda: rd.status().get("resume_stage") == "prune", 120, "pruning to complete")
    job = _job(rd)
    # What Slurm does on preemption: SIGTERM, then submitit's signal (USR2) to checkpoint.
    for sig in ("SIGTERM", "USR2"):
        subprocess.run(["scancel", "--signal", sig, job], check=True)
    wait_for(lambda: rd.status().get("requeued") == 1, 30, "the task to be requeued")
    assert rd.state() == "queued" and rd.status()["resume_stage"] == "prune"
    # A requeued job waits for a begin time (minutes): once it does, start it now.
    wait_for(lambda: _reason(job) == "BeginTime", 60, "the job to wait for its begin time")
    subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], check=True)
    wait_for(lambda: all_final(ws, 1), 180, "the resumed run")
    assert rd.state() == "done", describe(ws)
    events = [e for e in _events(rd)]
    restored = [i for i, e in enumerate(events) if e.get("message") == "pruned weights restored"]
    assert restored, "the second attempt should restore the pruned weights"
    after = events[restored[0] :]
    assert not [e for e in after if e["stage"] in ("calibration",)], "calibration was redone"
    kinds = sorted(r["metric"] for r in rd.read_metrics())
    assert kinds == ["bpb", "nll", "ppl"]  # the interrupted evaluation's rows are not doubled
    assert not (rd.path / "pruned.pt").exists()


def _reason(job: str) -> str:
    out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%r"], capture_output=True, text=True)
    return out.stdout.strip()


def _events(rd: RunDir) -> list[dict]:
    from langprune.store.rundir import read_jsonl

    return read_jsonl(rd.events)[0]


def test_a_request_no_node_can_hold_is_refused_before_anything_is_written(
    ws: Path, tmp_path: Path
) -> None:
    preset = write_preset(tmp_path, methods=("wanda",), dense=False)
    # the preset's default: 64 GB per task, more than the CI node has
    out = cli(ws, "run", str(preset), "--executor", "slurm")
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "--slurm-mem-gb" in out.stderr and "GB" in out.stderr, out.stderr
    missing = cli(ws, "run", str(preset), *SBATCH, "--slurm-partition", "nosuchpart")
    assert missing.returncode == 2 and "partition 'nosuchpart' does not exist" in missing.stderr
    cpus = cli(ws, "run", str(preset), *SBATCH[:4], "--slurm-cpus-per-task", "999")
    assert cpus.returncode == 2 and "--slurm-cpus-per-task" in cpus.stderr, cpus.stderr
    assert not ws.exists()


def test_a_refused_submission_fails_the_runs_with_sbatchs_words_and_retry_resubmits(
    ws: Path, tmp_path: Path
) -> None:
    preset = write_preset(tmp_path, methods=("wanda",), dense=False)
    out = cli(ws, "run", str(preset), *SBATCH, "--slurm-opt", "constraint=nosuchfeature")
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert lines[0].startswith("error: sbatch refused") and "Invalid feature" in lines[0], lines
    assert lines[1].startswith("fix: ") and "--slurm-opt" in lines[1], lines
    (rd,) = runs(ws)
    st = rd.status()
    assert st["state"] == "failed" and "Invalid feature specification" in st["error"]
    status = cli(ws, "status", env=env_for(ws, COLUMNS="200"))
    assert "sbatch refused" in status.stdout
    # the fix: drop the option and resubmit the failed runs
    retried = cli(ws, "retry", "--failed", "--yes", "--slurm-drop", "constraint")
    assert retried.returncode == 0, retried.stderr
    assert rd.status().get("job_id"), rd.status()
    wait_for(lambda: all_final(ws, 1), 180, "the resubmitted run")
    assert rd.state() == "done", describe(ws)
