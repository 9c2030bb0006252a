"""The Slurm executor, through submitit (no torch at import).

A grid goes out as one job array, one run and one GPU per task. Each task is a `SlurmTask`, a
submitit Checkpointable: on preemption or time-out submitit pickles it again and requeues the job,
and the task resumes its run after the last completed stage recorded in status.json
(`resume_stage`, with the pruned weights in the run dir). Job ids are written into the run
directories, so that status, logs, cancel and attach work from any later process.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
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


def resolve_params(
    spec: Any, overrides: dict[str, Any], drop: Sequence[str] = ()
) -> dict[str, Any]:
    """The preset's [runner.slurm] with the CLI's overrides on top (None = not given); `drop`
    names extra sbatch options to leave out (a retry's `--slurm-drop constraint`)."""
    from langprune.engine.spec.experiment import SBATCH_OPTION, sbatch_text_problem

    params = spec.model_dump(mode="json") if hasattr(spec, "model_dump") else dict(spec)
    params["extra"] = {
        k: v
        for k, v in (params.get("extra") or {}).items()
        if k not in {d.lstrip("-") for d in drop}
    }
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


# sbatch's words -> the option that fixes it (checked in order; the first match wins)
_FIXES = (
    ("memory specification", "mem_gb"),
    ("partition", "partition"),
    ("account", "account"),
    ("qos", "qos"),
    ("time limit", "time"),
    ("generic resource", "gpus_per_task"),
    ("gres", "gpus_per_task"),
    ("feature specification", "extra"),
    ("node configuration is not available", "cpus_per_task"),
)
_OPTION = {
    "mem_gb": "--slurm-mem-gb N (GB per task)",
    "partition": "--slurm-partition NAME",
    "account": "--slurm-account NAME",
    "qos": "--slurm-qos NAME",
    "time": "--slurm-time HH:MM:SS",
    "gpus_per_task": "gpus_per_task in [runner.slurm]",
    "extra": "--slurm-opt KEY=VALUE (a retry drops one with --slurm-drop KEY)",
    "cpus_per_task": "--slurm-cpus-per-task N",
}


class SubmissionRefused(RunnerError):
    """sbatch refused (or could not run) a submission; the runs are marked failed with the cause."""


def refusal_fix(message: str) -> str:
    """The option that fixes what sbatch said, with how to resubmit."""
    low = message.lower()
    option = next((opt for words, opt in _FIXES if words in low), None)
    what = _OPTION[option] if option else "the [runner.slurm] options (--slurm-partition, ...)"
    limits = node_limits()
    hint = ""
    if limits and option in ("mem_gb", "cpus_per_task", "gpus_per_task", "partition"):
        hint = " (" + "; ".join(n.describe() for n in limits[:4]) + ")"
    return (
        f"set {what}{hint}, then resubmit: langprune retry --failed with that option, "
        "or langprune run PRESET --executor slurm with it"
    )


def submit(workspace: Path, run_ids: list[str], params: dict[str, Any]) -> list[str]:
    """Submit one array task per run; writes each job id into its run dir. Returns the job ids.

    A refused submission (sbatch's error: a missing partition, a request no node can satisfy)
    marks every run of it failed with sbatch's own message (`retry` resubmits them) and raises
    SubmissionRefused with that message and the option that fixes it.
    """
    workspace = workspace.resolve()
    ex = executor(workspace, params)
    try:
        # submitit prints sbatch's stderr itself; it is reported once, below, with the fix
        with contextlib.redirect_stderr(io.StringIO()), ex.batch():
            jobs = [ex.submit(SlurmTask(str(workspace), [rid])) for rid in run_ids]
    except (submitit.core.utils.FailedJobError, OSError, subprocess.SubprocessError) as exc:
        said = _sbatch_words(exc)
        for rid in run_ids:
            RunDir(runs_dir(workspace) / rid).set_status(
                "failed", executor="slurm", slurm=params, error=f"sbatch refused the job: {said}"
            )
        raise SubmissionRefused(
            f"sbatch refused the submission of {len(run_ids)} run(s): {said}", refusal_fix(said)
        ) from None
    ids = []
    for rid, job in zip(run_ids, jobs, strict=True):
        RunDir(runs_dir(workspace) / rid).set_status(
            "queued", executor="slurm", job_id=str(job.job_id), slurm=params
        )
        ids.append(str(job.job_id))
    return ids


def _sbatch_words(exc: BaseException) -> str:
    """sbatch's own message, on one line: its `error:` lines, else the exception's text."""
    text = str(exc).strip() or type(exc).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    said = [ln.split("error:", 1)[1].strip() for ln in lines if "error:" in ln]
    return "; ".join(dict.fromkeys(said or lines[-1:]))


@dataclass(frozen=True)
class NodeLimits:
    """What one node (of one partition) can hold, from sinfo."""

    partition: str
    default: bool
    cpus: int
    mem_gb: float
    gpus: int
    node: str

    def describe(self) -> str:
        return (
            f"partition {self.partition} node {self.node}: {self.cpus} CPUs, "
            f"{round(self.mem_gb, 1):g} GB, {self.gpus} GPUs"
        )


def node_limits() -> list[NodeLimits]:
    """Every (partition, node) sinfo reports; [] when sinfo is missing or does not answer."""
    if not shutil.which("sinfo"):
        return []
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%P|%N|%c|%m|%G"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    found = []
    for line in out.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 5:
            continue
        part, node, cpus, mem, gres = parts
        try:
            found.append(
                NodeLimits(
                    part.rstrip("*"),
                    part.endswith("*"),
                    int(cpus.rstrip("+")),
                    int(mem.rstrip("+")) / 1024,
                    _gpus(gres),
                    node,
                )
            )
        except ValueError:
            continue
    return found


def _gpus(gres: str) -> int:
    """GPUs in sinfo's %G: 'gpu:4', 'gpu:a100:4(S:0-1)', '(null)'."""
    total = 0
    for item in gres.split(","):
        fields = re.sub(r"\(.*?\)", "", item).split(":")
        if fields[0] == "gpu" and len(fields) >= 2 and fields[-1].isdigit():
            total += int(fields[-1])
    return total


def preflight(params: dict[str, Any]) -> None:
    """Where sinfo answers: the partition exists, and some node of it can hold one task's memory,
    CPUs and GPUs. RunnerError naming the option otherwise; nothing when sinfo cannot be asked."""
    nodes = node_limits()
    if not nodes:
        return
    partition = params.get("partition")
    parts = sorted({n.partition for n in nodes})
    if partition:
        candidates = [n for n in nodes if n.partition == partition]
        if not candidates:
            import difflib

            close = difflib.get_close_matches(str(partition), parts, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RunnerError(
                f"--slurm-partition: partition {partition!r} does not exist{hint} "
                f"(partitions: {', '.join(parts)})",
                "set --slurm-partition (or partition in [runner.slurm]) to one of them",
            )
    else:
        candidates = [n for n in nodes if n.default] or nodes
    mem = float(params.get("mem_gb", 64))
    cpus = int(params.get("cpus_per_task", 8))
    gpus = int(params.get("gpus_per_task", 1))
    checks = (
        ("--slurm-mem-gb", "mem_gb", mem, lambda n: n.mem_gb >= mem, "GB"),
        ("--slurm-cpus-per-task", "cpus_per_task", cpus, lambda n: n.cpus >= cpus, "CPUs"),
        (
            "gpus_per_task in [runner.slurm]",
            "gpus_per_task",
            gpus,
            lambda n: n.gpus >= gpus,
            "GPUs",
        ),
    )
    for flag, _key, wanted, fits, unit in checks:
        if not any(fits(n) for n in candidates):
            raise RunnerError(
                f"{flag}: no node of partition {candidates[0].partition} can hold {wanted:g} "
                f"{unit} per task (" + "; ".join(n.describe() for n in candidates[:4]) + ")",
                f"set {flag} to what a node has",
            )
    if not any(n.mem_gb >= mem and n.cpus >= cpus and n.gpus >= gpus for n in candidates):
        raise RunnerError(
            f"no node of partition {candidates[0].partition} can hold {mem:g} GB, {cpus} CPUs "
            f"and {gpus} GPUs at once (" + "; ".join(n.describe() for n in candidates[:4]) + ")",
            "lower --slurm-mem-gb or --slurm-cpus-per-task",
        )


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
