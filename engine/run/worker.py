"""A worker: `python -m langprune.engine.run.worker --workspace WS RUN_ID...` (torch side).

Executes runs that share a model on the one device it sees. The model is loaded once; between runs
the dense weights come back from an in-memory snapshot. For each run the worker holds the run's lock,
refreshes its heartbeat from a thread, sends its stdout/stderr (and that of C libraries) to the run's
log.txt, and leaves a final state in status.json: done, failed (error + traceback tail) or cancelled.

SIGTERM stops the worker cleanly: the current run is marked cancelled, runs it had not started stay
queued (the scheduler hands them to another worker). Under Slurm, SIGTERM also announces preemption,
so there it only stops a run that `langprune cancel` has already marked cancelled.

A disk that refuses a write (full, over quota, read-only: langprune.errors.DiskError): before a run
has been marked running, the worker stops and leaves it and the later ones queued (exit DISK_EXIT;
the scheduler tries again later). Once it runs, the run fails with the cause in its status.json
(the disk, the path, and the fix: free space, then `langprune retry ID`). A final status the disk
refuses is retried for $LANGPRUNE_RECORD_RETRY_S seconds (RECORD_RETRY_S); past that the cause goes
to the worker's log (its stderr), and the run, never marked finished, shows as lost.
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
from typing import Any, ClassVar

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
from langprune.engine.run.registry import DISK_EXIT, WorkerRecord
from langprune.errors import DiskError, disk_error
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

RECORD_RETRY_ENV = "LANGPRUNE_RECORD_RETRY_S"
RECORD_RETRY_S = 120.0  # how long a final status that a full disk refuses is retried

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


class DiskStop(Exception):
    """A disk error before the run was marked running: it and the runs after it stay queued."""

    def __init__(self, problem: DiskError) -> None:
        super().__init__(problem.message)
        self.problem = problem


class _Current:
    """The run being executed, for the signal handler."""

    rd: RunDir | None = None
    slurm: bool = False
    unrecorded: ClassVar[list[str]] = []  # final states no disk took: told on its own stderr


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
    _flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        _flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)


def _flush() -> None:
    """Flush Python's stdout and stderr; output a full disk refuses is lost, not a crash."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):
            stream.flush()


def _note(rd: RunDir, text: str) -> None:
    """A line of the worker's own in the run's log (written to the file, whatever sys.stdout is)."""
    _flush()
    rd.append_log(text)


def _try_note(rd: RunDir, text: str) -> None:
    """`_note` where a full disk must not change the outcome (a line after the final status)."""
    try:
        _note(rd, text)
    except OSError as exc:
        if disk_error(exc) is None:
            raise


def _tell(text: str) -> None:
    """A line on the worker's stderr (its log, or the run's during a run), if it can be written."""
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr, flush=True)


def record_final(
    rd: RunDir, state: str, fields: dict[str, Any], retry_s: float | None = None
) -> bool:
    """Write a run's final status; a disk error is retried (every 2 s) for `retry_s` seconds
    (default $LANGPRUNE_RECORD_RETRY_S, else RECORD_RETRY_S). False when it was never written:
    the cause then goes to the worker's stderr. The write is atomic: never half a status.json."""
    if retry_s is None:
        retry_s = _float_env(RECORD_RETRY_ENV)
        retry_s = RECORD_RETRY_S if retry_s is None else retry_s
    deadline = time.monotonic() + retry_s
    told = False
    while True:
        try:
            rd.set_status(state, **fields)
            return True
        except OSError as exc:
            problem = disk_error(exc, then=f"langprune retry {rd.id}")
            if problem is None:
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                _Current.unrecorded.append(
                    f"run {rd.id}: could not record '{state}' ({fields.get('error') or state}) "
                    f"in {rd.status_file}: {problem.message}; fix: {problem.fix}"
                )
                return False
            if not told:
                _tell(f"run {rd.id}: {problem.message}; retrying for {retry_s:.0f} s")
                told = True
            time.sleep(min(2.0, left))


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


def failure_fields(
    exc: BaseException, device: str | None, run_id: str | None = None
) -> dict[str, Any]:
    """status.json fields for a failed run: one-line error, traceback tail, OOM advice; a full
    (read-only, failing) disk is named with the path and the fix (free space, then retry)."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    error = text[0] if text else type(exc).__name__
    disk = disk_error(exc, then=f"langprune retry {run_id}" if run_id else "retry the run")
    if disk is not None:
        error = f"{disk.message} — fix: {disk.fix}"
    elif type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():
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
    marked = False  # status.json says running: from here on a disk error fails the run
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
            marked = True
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
            except StopRequested:
                record_final(rd, "cancelled", {"error": "cancelled (SIGTERM)"}, retry_s=0)
                _try_note(rd, summary_line(rd, "cancelled", {"total": time.time() - t0}, {}))
                raise
            except Exception as exc:
                fields = failure_fields(exc, device, run.id)
                recorded = record_final(rd, "failed", fields)
                _try_note(rd, fields["traceback"])
                _try_note(rd, summary_line(rd, "failed", {"total": time.time() - t0}, fields))
                if ctx is not None:
                    ctx.dirty = True  # the weights may be half pruned: restore before the next run
                _free_cuda_cache()
                return ctx, "failed" if recorded else "unrecorded"
            if not record_final(rd, "done", fields):
                return ctx, "unrecorded"
            _try_note(rd, summary_line(rd, "done", seconds, fields))
            (rd.path / CHECKPOINT).unlink(missing_ok=True)
            return ctx, "done"
    except OSError as exc:
        problem = disk_error(exc, then="the scheduler starts the run again by itself")
        if marked or problem is None:
            raise
        raise DiskStop(problem) from exc
    finally:
        _Current.rd = None
        while _Current.unrecorded:  # on the worker's own stderr now that the run's log is closed
            _tell(_Current.unrecorded.pop(0))


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
        install_signal_handlers()
        try:
            record.update(
                id=worker_id,
                pid=os.getpid(),
                host=socket.gethostname(),
                started_at=started,
                runs=list(args.runs),
                cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
            )
            states = run_worker(
                workspace, args.runs, worker_id, checkpoints=args.checkpoints, started_at=started
            )
        except StopRequested:
            _update_quietly(record, finished_at=time.time(), stopped=True)
            return 143
        except (DiskStop, OSError) as exc:
            problem = exc.problem if isinstance(exc, DiskStop) else disk_error(exc)
            if problem is None:
                raise
            _tell(f"worker {worker_id}: {problem.message}; runs not started stay queued")
            return DISK_EXIT
        _update_quietly(record, finished_at=time.time(), states=states)
    return 0


def _update_quietly(record: WorkerRecord, **fields: Any) -> None:
    """Add the worker's outcome to its record; a full disk only loses this note (the runs'
    own states are in their status.json)."""
    try:
        record.update(**fields)
    except OSError as exc:
        if disk_error(exc) is None:
            raise


if __name__ == "__main__":
    sys.exit(main())
