"""The Slurm executor, through submitit (no torch at import).

A grid goes out as one job array, one run and one GPU per task. Each task is a `SlurmTask`, a
submitit Checkpointable: on preemption or time-out submitit pickles it again and requeues the job,
and the task resumes its run after the last completed stage recorded in status.json
(`resume_stage`, with the pruned weights in the run dir). Job ids are written into the run
directories, so that status, logs, cancel and attach work from any later process.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import submitit

from langprune.engine.run.registry import runner_dir
from langprune.errors import RunnerError
from langprune.store.rundir import RunDir
from langprune.workspace import runs_dir

# Fields of [runner.slurm] (and the CLI's --slurm-* options) that reach sbatch.
FIELDS = (
    "partition",
    "account",
    "qos",
    "time",
    "array_parallelism",
    "gpus_per_task",
    "cpus_per_task",
    "mem_gb",
    "extra",
)


def resolve_params(spec: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """The preset's [runner.slurm] with the CLI's overrides on top (None = not given)."""
    from langprune.engine.spec.experiment import SBATCH_OPTION, sbatch_text_problem

    params = spec.model_dump(mode="json") if hasattr(spec, "model_dump") else dict(spec)
    for key, value in overrides.items():
        if key not in FIELDS:
            raise RunnerError(f"slurm option {key!r} is unknown (allowed: {', '.join(FIELDS)})")
        if value is None:
            continue
        if key == "extra":
            for name, text in value.items():
                if not SBATCH_OPTION.fullmatch(name):
                    raise RunnerError(
                        f"--slurm-opt: {name!r} is not an sbatch option name",
                        "write KEY=VALUE with a plain option name, e.g. --slurm-opt constraint=a100",
                    )
                problem = sbatch_text_problem(str(text))
                if problem:
                    raise RunnerError(f"--slurm-opt {name}: {str(text)!r} {problem}")
            params["extra"] = {**params.get("extra", {}), **value}
        else:
            problem = sbatch_text_problem(str(value))
            if problem:
                flag = "--slurm-" + key.replace("_", "-")
                raise RunnerError(f"{flag}: {str(value)!r} {problem}")
            params[key] = value
    time_minutes(params["time"])  # refuse a bad time limit before submitting
    return params


def time_minutes(value: str | int) -> int:
    """Slurm's time formats (minutes, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]) as whole minutes."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", value.strip())
    if not m:
        raise RunnerError(
            f"slurm time {value!r} is not a Slurm time limit",
            "write it as minutes, HH:MM:SS or D-HH:MM, e.g. 12:00:00 or 1-00:00",
        )
    days, a, b, c = m.groups()
    parts = [int(x) for x in (a, b, c) if x is not None]
    if days is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        hours, minutes, seconds = [*parts, 0, 0][:3]
        total = int(days) * 1440 + hours * 60 + minutes + (seconds > 0)
    elif len(parts) == 1:
        total = parts[0]
    elif len(parts) == 2:  # MM:SS
        total = parts[0] + (parts[1] > 0)
    else:
        total = parts[0] * 60 + parts[1] + (parts[2] > 0)
    return max(1, total)


class SlurmTask(submitit.helpers.Checkpointable):
    """One array task: runs a list of runs (of one model) in this process, like a local worker."""

    def __init__(self, workspace: str, run_ids: list[str]) -> None:
        self.workspace = workspace
        self.run_ids = run_ids

    def __call__(self) -> dict[str, str]:
        from langprune.engine.run.worker import install_signal_handlers, run_worker

        env = submitit.JobEnvironment()
        # After submitit's own handlers: ours tells a cancel from a preemption notice.
        install_signal_handlers(slurm=True)
        return run_worker(
            Path(self.workspace),
            self.run_ids,
            f"slurm-{env.job_id}",
            checkpoints=True,
            job_id=str(env.job_id),
        )

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """Preemption or time-out: show the unfinished run as queued again (its resume_stage and
        metrics stay) while Slurm requeues the task; submitit pickles `self` for the restart."""
        for rid in self.run_ids:
            rd = RunDir(runs_dir(Path(self.workspace)) / rid)
            status = rd.status()
            if status.get("state") == "running":
                rd.set_status("queued", requeued=int(status.get("requeued") or 0) + 1)
        return super().checkpoint(*args, **kwargs)


def executor(workspace: Path, params: dict[str, Any]) -> submitit.SlurmExecutor:
    folder = runner_dir(workspace) / "slurm" / "%j"
    ex = submitit.SlurmExecutor(folder=folder, max_num_timeout=3)
    ex.update_parameters(
        job_name="langprune",
        partition=params.get("partition"),
        account=params.get("account"),
        qos=params.get("qos"),
        time=time_minutes(params.get("time", "12:00:00")),
        array_parallelism=params.get("array_parallelism", 16),
        ntasks_per_node=1,
        gpus_per_task=params.get("gpus_per_task", 1),
        cpus_per_task=params.get("cpus_per_task", 8),
        mem=f"{params.get('mem_gb', 64)}GB",
        stderr_to_stdout=True,
        additional_parameters=dict(params.get("extra") or {}),
    )
    return ex


def submit(workspace: Path, run_ids: list[str], params: dict[str, Any]) -> list[str]:
    """Submit one array task per run; writes each job id into its run dir. Returns the job ids."""
    workspace = workspace.resolve()
    ex = executor(workspace, params)
    with ex.batch():
        jobs = [ex.submit(SlurmTask(str(workspace), [rid])) for rid in run_ids]
    ids = []
    for rid, job in zip(run_ids, jobs, strict=True):
        RunDir(runs_dir(workspace) / rid).set_status(
            "queued", executor="slurm", job_id=str(job.job_id), slurm=params
        )
        ids.append(str(job.job_id))
    return ids


def available() -> bool:
    """True when this machine can talk to a Slurm controller."""
    if not shutil.which("sinfo"):
        return False
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and bool(out.stdout.strip())
