"""The Runner API the CLI and the TUI call: launch, cancel, retry, refresh_lost (no torch).

`launch` turns a grid into queued run directories and hands them to the workspace's scheduler (one
detached process per workspace, started here when none is alive) or to Slurm. Everything else reads
and changes run directories, so it works from any later process that sees the workspace.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langprune.engine.run import registry
from langprune.engine.run.registry import pid_alive
from langprune.engine.run.state import is_active, refresh_lost, scancel
from langprune.errors import RunnerError
from langprune.store.rundir import RunDir, create, iter_run_dirs
from langprune.vocab import DAMAGED, FINAL_STATES
from langprune.workspace import runs_dir

CANCEL_GRACE_S = 3.5  # SIGTERM, then SIGKILL to the whole group: cancel completes within 5 s


@dataclass
class LaunchResult:
    executor: str
    queued: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # done already (or running right now)
    damaged: list[str] = field(default_factory=list)  # files unreadable: left alone (see status)
    scheduler_pid: int | None = None
    scheduler_started: bool = False
    job_ids: list[str] = field(default_factory=list)


@dataclass
class CellPlan:
    """What a grid needs in a workspace, counted by pruned cell (see `langprune.cellid`)."""

    runs_done: list[str] = field(default_factory=list)  # this very run is done already
    cells_done: set[str] = field(default_factory=set)  # cells of the grid some done run pruned
    evaluations_to_add: list[str] = field(default_factory=list)  # run ids: cell done elsewhere
    to_prune: list[str] = field(default_factory=list)  # run ids whose cell no done run has

    def sentence(self) -> str:
        return (
            f"{len(self.cells_done)} cells done, {len(self.evaluations_to_add)} evaluations to "
            f"add, {len(self.to_prune)} runs to prune"
        )


def done_cells(workspace: Path) -> dict[str, list[str]]:
    """Cell id -> ids of the done runs of that cell, from the run dirs' spec.json (old run dirs
    included: the cell id is computed from the spec, never stored)."""
    from langprune.cellid import cell_id

    out: dict[str, list[str]] = {}
    for rd in iter_run_dirs(runs_dir(workspace)):
        spec = rd.read_spec()
        if spec and rd.state() == "done":
            out.setdefault(cell_id(spec), []).append(rd.path.name)
    return out


def plan_cells(experiment: Any, workspace: Path) -> CellPlan:
    """Which runs of `experiment` are done, which only add evaluations to a cell some other done
    run (another preset, say) already pruned, and which prune a new cell."""
    done = done_cells(workspace)
    plan = CellPlan()
    for run in experiment.runs():
        cell = run.cell_id
        if cell in done:
            plan.cells_done.add(cell)
        if run.id in done.get(cell, []):
            plan.runs_done.append(run.id)
        elif cell in done:
            plan.evaluations_to_add.append(run.id)
        else:
            plan.to_prune.append(run.id)
    return plan


def _spec_json(run: Any) -> dict[str, Any]:
    return run.model_dump(mode="json")


def reset_for_rerun(rd: RunDir, **fields: Any) -> None:
    """Forget an earlier attempt (metrics, events, checkpoint) so that the run starts from scratch;
    the log is kept and grows, with a header per attempt."""
    from langprune.engine.run.pipeline import CHECKPOINT

    try:
        rd.reset((CHECKPOINT,), **fields)
    except OSError as exc:  # an unreadable (damaged) run dir
        raise RunnerError(
            f"run {rd.id}: cannot reset {rd.path}: {exc.strerror or exc}",
            f"give yourself access to it first: chmod -R u+rwX {rd.path}",
        ) from None


def check_launch(
    experiment: Any,
    *,
    executor: str | None = None,
    gpus: Sequence[int | str] | str | None = None,
    slurm: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Refuse a bad launch request before anything is written (the CLI calls it before it creates
    the workspace): the executor, --gpus, and for Slurm sbatch on PATH and the [runner.slurm]
    parameters with their overrides. Returns the executor and the resolved Slurm parameters."""
    from langprune.engine.run import slots as slots_mod

    executor = executor or experiment.runner.executor
    if executor not in ("local", "slurm"):
        raise RunnerError(
            f"executor {executor!r} is unknown (allowed: local, slurm)", "use --executor local"
        )
    slurm_params: dict[str, Any] = {}
    if executor == "local":
        slots_mod.resolve_gpus(
            experiment.runner.gpus if gpus is None else gpus, slots_mod.detect_gpus()
        )
    else:
        import shutil

        from langprune.engine.run.slurm import resolve_params

        slurm_params = resolve_params(experiment.runner.slurm, slurm or {})
        if not shutil.which("sbatch"):
            raise RunnerError(
                "executor slurm: sbatch is not on PATH here",
                "run from a Slurm login node, or use --executor local",
            )
        from langprune.engine.run.slurm import preflight

        preflight(slurm_params)  # partition, and a node that can hold a task (sinfo)
    return executor, slurm_params


def launch(
    experiment: Any,
    workspace: Path,
    *,
    force: bool = False,
    executor: str | None = None,
    gpus: Sequence[int | str] | str | None = None,
    slots_per_gpu: int | None = None,
    slurm: dict[str, Any] | None = None,
) -> LaunchResult:
    """Queue the runs of `experiment` not done yet (all with `force`, except a stored dense
    baseline, which is reused) and start them locally or on Slurm.

    `slurm` overrides fields of the preset's [runner.slurm] (partition, account, qos, time,
    array_parallelism, extra, ...).
    """
    executor, slurm_params = check_launch(experiment, executor=executor, gpus=gpus, slurm=slurm)
    gpus = experiment.runner.gpus if gpus is None else gpus
    slots_per_gpu = slots_per_gpu or experiment.runner.slots_per_gpu

    root = runs_dir(workspace)
    result = LaunchResult(executor=executor)
    for run in experiment.runs():
        rd = RunDir(root / run.id)
        if not rd.exists():
            create(root, run.id, _spec_json(run))
            rd.set_status("queued", executor=executor)
            result.queued.append(run.id)
            continue
        status = rd.status()
        state = status.get("state")
        if (state == "done" and (not force or run.is_dense)) or is_active(rd, status):
            result.skipped.append(run.id)
        elif state == DAMAGED and not force:
            result.damaged.append(run.id)  # never re-run on a guess: status names it and the fix
        elif state == "queued" and status.get("executor", "local") == executor:
            result.queued.append(run.id)  # queued before and never started: still waiting
        else:
            reset_for_rerun(rd, executor=executor)
            result.queued.append(run.id)

    if executor == "local":
        registry.write_config(workspace, gpus=gpus, slots_per_gpu=slots_per_gpu)
        if result.queued:
            result.scheduler_pid, result.scheduler_started = ensure_scheduler(workspace)
    elif result.queued:
        from langprune.engine.run.slurm import submit

        fresh = [rid for rid in result.queued if not RunDir(root / rid).status().get("job_id")]
        result.job_ids = submit(workspace, fresh, slurm_params) if fresh else []
    return result


# how long a launch waits for the scheduler it started to take its lock
SCHEDULER_START_WAIT_S = 10.0


def ensure_scheduler(workspace: Path) -> tuple[int | None, bool]:
    """The pid of the workspace's scheduler, starting a detached one when none is alive."""
    info = registry.scheduler_info(workspace)
    if info is not None:
        return info.get("pid"), False
    log = registry.runner_dir(workspace) / "scheduler.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "langprune.engine.run.scheduler", "--workspace", str(workspace)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no controlling terminal: SIGHUP and Ctrl-C never reach it
            close_fds=True,
        )
    # until it holds its lock, the next look (attach, run --wait) would see no scheduler and
    # start a second one (which refuses, but the user would read "started one" twice)
    deadline = time.monotonic() + SCHEDULER_START_WAIT_S
    while time.monotonic() < deadline and proc.poll() is None:
        if registry.scheduler_info(workspace) is not None:
            break
        time.sleep(0.05)
    return proc.pid, True


def find_runs(workspace: Path, run_ids: Iterable[str] | None) -> list[RunDir]:
    root = runs_dir(workspace)
    if run_ids is None:
        return list(iter_run_dirs(root))
    out = []
    for rid in run_ids:
        rd = RunDir(root / rid)
        if not rd.exists():
            matches = [r for r in iter_run_dirs(root) if r.id.startswith(rid)]
            if len(matches) != 1:
                raise RunnerError(
                    f"run {rid!r}: {'ambiguous prefix' if matches else 'no such run'}",
                    "give more characters of the id (langprune status lists them)",
                )
            rd = matches[0]
        out.append(rd)
    return out


def cancel(workspace: Path, run_ids: Iterable[str] | None) -> dict[str, str]:
    """Stop runs (None = every unfinished run): queued ones never start, running ones get SIGTERM
    on their worker's whole process group (SIGKILL after a grace period) or `scancel` on Slurm.
    Returns run id -> what happened."""
    outcome: dict[str, str] = {}
    running: list[tuple[RunDir, dict[str, Any]]] = []
    to_scancel: list[str] = []
    # Queued runs first, so that the scheduler cannot hand them to a fresh worker meanwhile.
    for rd in find_runs(workspace, run_ids):
        status = rd.status()
        state = status.get("state")
        if state in FINAL_STATES:
            if run_ids is not None:
                outcome[rd.id] = f"already {state}"
            continue
        job = status.get("job_id")
        if state == "queued" or job:
            rd.set_status("cancelled", error="cancelled by user")
            outcome[rd.id] = "cancelled"
            if job:
                to_scancel.append(str(job))
        if state == "running" and not job:
            running.append((rd, status))
    if to_scancel:
        scancel(to_scancel)

    groups: dict[int, list[RunDir]] = {}
    here = socket.gethostname()
    for rd, status in running:
        pid = status.get("pid")
        if status.get("host") not in (None, here):
            outcome[rd.id] = f"runs on {status['host']}: cancel it there"
            continue
        if isinstance(pid, int) and pid_alive(pid):
            groups.setdefault(pid, []).append(rd)
        else:
            rd.set_status("cancelled", error="cancelled by user (worker already gone)")
            outcome[rd.id] = "cancelled"
    for pid in groups:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.time() + CANCEL_GRACE_S
    while (
        groups
        and time.time() < deadline
        and any(rd.is_locked() for rds in groups.values() for rd in rds)
    ):
        time.sleep(0.1)
    for pid, rds in groups.items():
        if any(rd.is_locked() for rd in rds):
            _signal_group(pid, signal.SIGKILL)
            time.sleep(0.2)
        for rd in rds:
            if rd.state() not in FINAL_STATES:
                rd.set_status("cancelled", error="cancelled by user")
            outcome[rd.id] = "cancelled"
    return outcome


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the worker's process group (it leads its own session) or, failing that, the worker."""
    try:
        pgid = os.getpgid(pid)
        if pgid == pid:
            os.killpg(pgid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def revive_scheduler(workspace: Path) -> int | None:
    """Start a scheduler when local runs are queued and none is alive (the machine rebooted, the
    scheduler was killed): what `status`, `attach`, `run --wait`, `retry` and the TUI do first.
    Returns the pid of the scheduler started, None when none was needed."""
    from langprune.engine.run.scheduler import pending_runs

    if registry.scheduler_info(workspace) is not None or not pending_runs(workspace):
        return None
    pid, _ = ensure_scheduler(workspace)
    return pid


def retry(
    workspace: Path,
    run_ids: Iterable[str] | None = None,
    *,
    failed: bool = False,
    slurm: dict[str, Any] | None = None,
    slurm_drop: Sequence[str] = (),
) -> list[str]:
    """Queue runs again from scratch: the given ones, and with `failed` every failed one
    (no ids and no flag = failed and cancelled ones). Returns the ids queued.

    Slurm runs are resubmitted with the options of their last submission, `slurm` overriding
    them (the fix of a refused submission, e.g. {"mem_gb": 2}; `slurm_drop` leaves extra sbatch
    options out); those are checked (sinfo)
    before any run is touched."""
    refresh_lost(workspace)
    revive_scheduler(workspace)
    chosen: dict[str, RunDir] = {}
    if run_ids:
        chosen.update((rd.id, rd) for rd in find_runs(workspace, run_ids))
    if failed or not run_ids:
        wanted = ("failed",) if failed else ("failed", "cancelled")
        chosen.update((rd.id, rd) for rd in find_runs(workspace, None) if rd.state() in wanted)
    queued: dict[str, list[str]] = {"local": [], "slurm": []}
    statuses = {rid: rd.status() for rid, rd in chosen.items()}
    for rd in chosen.values():
        if is_active(rd, statuses[rd.id]):
            raise RunnerError(
                f"run {rd.id} is running", f"cancel it first: langprune cancel {rd.id}"
            )
    slurm_params: dict[str, Any] = {}
    stored = [s.get("slurm") for s in statuses.values() if s.get("executor") == "slurm"]
    if stored:
        from langprune.engine.run.slurm import preflight, resolve_params

        base = next((dict(s) for s in stored if isinstance(s, dict) and s), None)
        if base is None:
            from langprune.engine.spec.experiment import SlurmSpec

            base = SlurmSpec().model_dump(mode="json")
        slurm_params = resolve_params(base, slurm or {}, slurm_drop)
        preflight(slurm_params)
    for rd in chosen.values():
        executor = statuses[rd.id].get("executor") or "local"
        reset_for_rerun(rd, executor=executor)
        queued[executor].append(rd.id)
    if queued["local"]:
        ensure_scheduler(workspace)
    if queued["slurm"]:
        from langprune.engine.run.slurm import submit

        submit(workspace, queued["slurm"], slurm_params)
    return queued["local"] + queued["slurm"]
