"""A worker: `python -m langprune.engine.run.worker --workspace WS RUN_ID...` (torch side).

Executes runs that share a model on the one device it sees. The model is loaded once; between runs
the dense weights come back from an in-memory snapshot. For each run the worker holds the run's lock,
refreshes its heartbeat from a thread, sends its stdout/stderr (and that of C libraries) to the run's
log.txt, and leaves a final state in status.json: done, failed (error + traceback tail) or cancelled.

SIGTERM stops the worker cleanly: the current run is marked cancelled, runs it had not started stay
queued (the scheduler hands them to another worker). Under Slurm, SIGTERM also announces preemption,
so there it only stops a run that `langprune cancel` has already marked cancelled.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from langprune.engine.run.pipeline import (
    CHECKPOINT,
    ModelContext,
    execute,
    load_context,
    model_key,
    record_versions,
    reuse_dense,
    store_dense,
)
from langprune.engine.run.progress import Heartbeat, Reporter, rss_bytes, say, seconds_text
from langprune.engine.run.registry import WorkerRecord
from langprune.store.fs import lock
from langprune.store.rundir import RunDir
from langprune.vocab import FINAL_STATES
from langprune.workspace import make_private

TRACEBACK_LINES = 40
OOM_HINT = (
    "out of memory on {device}: set `offload = true` for this model in the preset (keeps one layer "
    "on the GPU while pruning) or lower evaluation.batch_size / calibration.nsamples / seqlen"
)

# Seconds to sleep after each progress event of a stage, e.g. "prune=0.5,eval_ppl=0.2": makes a
# tiny run slow enough to watch, cancel or kill in the middle of a stage (tests, demos).
SLOW_ENV = "LANGPRUNE_SLOW_STAGES"

SPAWNED_ENV = "LANGPRUNE_SPAWNED_AT"  # set by the scheduler

log = logging.getLogger("langprune.worker")


def _float_env(name: str) -> float | None:
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return None


def _slowed(progress: Reporter) -> Any:
    delays = {}
    for item in os.environ.get(SLOW_ENV, "").split(","):
        stage, _, value = item.partition("=")
        if stage.strip() and value.strip():
            delays[stage.strip()] = float(value)
    if not delays:
        return progress

    def call(**kw: Any) -> None:
        progress(**kw)
        time.sleep(delays.get(str(kw.get("stage")), 0.0))

    return call


class StopRequested(BaseException):
    """Raised from the SIGTERM handler; a BaseException so engine code cannot swallow it."""


class _Current:
    """The run being executed, for the signal handler."""

    rd: RunDir | None = None
    slurm: bool = False


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    rd = _Current.rd
    if _Current.slurm and (rd is None or rd.state() != "cancelled"):
        # Preemption: submitit requeues on the signal that follows (USR2); keep working until then.
        print(
            "SIGTERM without a cancel request: ignored (Slurm preemption notice)", file=sys.stderr
        )
        return
    raise StopRequested()


def install_signal_handlers(*, slurm: bool = False) -> None:
    _Current.slurm = slurm
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Detached workers have no terminal; ignoring SIGHUP also covers a stray `kill -HUP`.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def memory_bytes() -> int | None:
    """Peak CUDA memory when the worker uses a GPU, else the process's resident memory."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        return int(torch.cuda.max_memory_allocated())
    return rss_bytes()


@contextlib.contextmanager
def redirect_output(path: Path) -> Iterator[None]:
    """Point file descriptors 1 and 2 at `path` (appending), so that every library's output lands
    in the run's log, then put them back."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)


def _note(rd: RunDir, text: str) -> None:
    """A line of the worker's own in the run's log (written to the file, whatever sys.stdout is)."""
    sys.stdout.flush()
    sys.stderr.flush()
    rd.append_log(text)


def attempt_header(rd: RunDir, run_id: str, worker_id: str) -> str:
    """The separator that starts each attempt in the log: attempt number, time, place."""
    status = rd.status()
    attempt = int(status.get("attempts") or 0) + 1
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    resumed = status.get("resume_stage")
    text = f"==== attempt {attempt} · {when} · run {run_id} on {socket.gethostname()}"
    text += f" (worker {worker_id}, pid {os.getpid()})"
    if resumed:
        text += f" · resuming after {resumed}"
    return text + " ===="


def summary_line(rd: RunDir, state: str, seconds: dict[str, float], fields: dict[str, Any]) -> str:
    """The last line of an attempt: its outcome, the time of each stage, sparsity, perplexities."""
    total = seconds.get("total", 0.0)
    text = f"==== {state} in {seconds_text(total)}"
    order = ["load", "calibration", "prune", "eval", "analysis"]
    keys = sorted(
        (k for k in seconds if k != "total"),
        key=lambda k: (k not in order, order.index(k) if k in order else 0, k),
    )
    stages = [f"{k} {seconds_text(seconds[k])}" for k in keys if seconds[k]]
    if stages:
        text += ": " + " · ".join(stages)
    achieved = fields.get("achieved_sparsity")
    if isinstance(achieved, (int, float)):
        text += f" · sparsity {achieved:.2%}"
    ppl = [
        f"{r.get('language')} {r['value']:.4g}"
        for r in rd.read_metrics()
        if r.get("kind") == "perplexity"
        and r.get("metric") == "ppl"
        and isinstance(r.get("value"), (int, float))
    ]
    if ppl:
        text += " · ppl " + ", ".join(ppl)
    if fields.get("error"):
        text += f" · {fields['error']}"
    return text


def failure_fields(exc: BaseException, device: str | None) -> dict[str, Any]:
    """status.json fields for a failed run: one-line error, traceback tail, OOM advice."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    error = text[0] if text else type(exc).__name__
    if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        error = f"{error} — " + OOM_HINT.format(device=device or "the device")
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    tail = "".join(tb).splitlines()[-TRACEBACK_LINES:]
    return {"error": error, "traceback": "\n".join(tail)}


def _free_cuda_cache() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_worker(
    workspace: Path,
    run_ids: Sequence[str],
    worker_id: str,
    *,
    checkpoints: bool = False,
    job_id: str | None = None,
    started_at: float | None = None,
) -> dict[str, str]:
    """Execute the runs in order; returns run id -> final state. StopRequested propagates."""
    from langprune.engine.spec.experiment import Run
    from langprune.workspace import runs_dir

    ctx: ModelContext | None = None
    states: dict[str, str] = {}
    for run_id in run_ids:
        rd = RunDir(runs_dir(workspace) / run_id)
        if not rd.exists():
            states[run_id] = "missing"
            continue
        # A status check may hold the lock for a moment: try for a second before giving up.
        for _ in range(10):
            with rd.try_lock() as held:
                if held:
                    if rd.state() in FINAL_STATES:  # cancelled while queued, or done elsewhere
                        states[run_id] = rd.state()
                        break
                    run = Run.model_validate(rd.read_spec())
                    ctx, states[run_id] = _one_run(
                        workspace, run, rd, ctx, worker_id, checkpoints, job_id, started_at
                    )
                    break
            time.sleep(0.1)
        else:
            states[run_id] = "busy"  # another worker holds it
    return states


def _one_run(
    workspace: Path,
    run: Any,
    rd: RunDir,
    ctx: ModelContext | None,
    worker_id: str,
    checkpoints: bool,
    job_id: str | None,
    started_at: float | None,
) -> tuple[ModelContext | None, str]:
    reporter = Reporter(rd, memory_bytes)
    progress = _slowed(reporter)
    _Current.rd = rd
    t0 = time.time()
    device = ctx.loaded.device if ctx else None
    try:
        with Heartbeat(rd, reporter), redirect_output(rd.log):
            _note(rd, attempt_header(rd, run.id, worker_id))
            rd.set_status(
                "running",
                host=socket.gethostname(),
                pid=os.getpid(),
                worker=worker_id,
                job_id=job_id or rd.status().get("job_id"),
                cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
                # when the scheduler started this worker, and when its Python began: the
                # scheduler's overhead is spawned_at - queued_at
                spawned_at=_float_env(SPAWNED_ENV),
                worker_started_at=started_at,
                versions=record_versions(),
                error=None,
                traceback=None,
            )
            try:
                seconds: dict[str, float] = {}
                if reuse_dense(run, rd, workspace):
                    _note(rd, "dense baseline already evaluated (same model + evaluation): reused")
                    fields: dict[str, Any] = {"reused_dense": True, "achieved_sparsity": 0.0}
                else:
                    if ctx is None or ctx.key != model_key(run):
                        ctx = None
                        gc.collect()
                        ctx = load_context(run, workspace, progress)
                        seconds["load"] = ctx.load_seconds
                        loaded = ctx.loaded
                        say(
                            rd,
                            f"load: {run.model.id} on {loaded.device} ({loaded.dtype}) in "
                            f"{seconds_text(ctx.load_seconds)}",
                        )
                    else:
                        say(
                            rd,
                            f"load: {run.model.id} already in memory (dense weights from its copy)",
                        )
                    device = str(ctx.loaded.device)
                    rd.set_status("running", device=device)
                    fields = execute(run, rd, ctx, progress, checkpoints=checkpoints)
                    if run.is_dense:
                        store_dense(run, rd, workspace)
                seconds = {**fields.get("seconds", {}), **seconds}
                seconds["total"] = time.time() - t0
                fields["seconds"] = seconds
                reporter(stage="done", step=1, total=1)
                rd.set_status("done", **fields)
                _note(rd, summary_line(rd, "done", seconds, fields))
                (rd.path / CHECKPOINT).unlink(missing_ok=True)
                return ctx, "done"
            except StopRequested:
                rd.set_status("cancelled", error="cancelled (SIGTERM)")
                _note(rd, summary_line(rd, "cancelled", {"total": time.time() - t0}, {}))
                raise
            except Exception as exc:
                fields = failure_fields(exc, device)
                rd.set_status("failed", **fields)
                _note(rd, fields["traceback"])
                _note(rd, summary_line(rd, "failed", {"total": time.time() - t0}, fields))
                if ctx is not None:
                    ctx.dirty = True  # the weights may be half pruned: restore before the next run
                _free_cuda_cache()
                return ctx, "failed"
    finally:
        _Current.rd = None


def main(argv: Sequence[str] | None = None) -> int:
    started = time.time()
    parser = argparse.ArgumentParser(prog="python -m langprune.engine.run.worker")
    parser.add_argument("--workspace", required=True, type=Path)
    parser.add_argument("--worker-id", default=None)
    parser.add_argument("--checkpoints", action="store_true", help="save pruned weights per run")
    parser.add_argument("runs", nargs="+", help="run ids, executed in order")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    workspace = args.workspace.resolve()
    make_private(workspace)  # a Slurm node has the user's umask, not the launcher's
    worker_id = args.worker_id or f"{socket.gethostname()}-{os.getpid()}"
    record = WorkerRecord(workspace, worker_id)
    with lock(record.lock) as held:
        if held is None:
            print(f"worker {worker_id} is already running", file=sys.stderr)
            return 3
        record.update(
            id=worker_id,
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=started,
            runs=list(args.runs),
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        )
        install_signal_handlers()
        try:
            states = run_worker(
                workspace, args.runs, worker_id, checkpoints=args.checkpoints, started_at=started
            )
        except StopRequested:
            record.update(finished_at=time.time(), stopped=True)
            return 143
        record.update(finished_at=time.time(), states=states)
    return 0


if __name__ == "__main__":
    sys.exit(main())
