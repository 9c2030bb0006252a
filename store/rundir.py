"""The run directory format and its only writer; the store, CLI and TUI read it (records.py).

<runs>/<id>/ holds:
  spec.json      the Run, written once when the directory is created (never rewritten)
  status.json    {state, <state>_at, updated_at, attempts, ...}: replaced atomically on every change
                 (`set_status`; `reset` for a retried run; `write_status` for a whole rewrite)
  events.jsonl   progress events {stage, step, total, time, ...}, one whole line per append
  metrics.jsonl  metric rows, one whole line per append (fsynced); a resumed stage drops the rows of
                 the stage it redoes through `keep_metrics`, which replaces the file atomically
  log.txt        the worker's output for this run (appended; kept across attempts, each attempt
                 starting with a `==== attempt N` line); the worker's own lines go through
                 `append_log`, libraries write through its stdout/stderr. Progress bars redraw
                 with carriage returns: readers show each line's last frame (`collapse_frames`)
  lock           flock held by the run's worker while it is alive (`try_lock`, `hold_lock`)
  heartbeat      touched every few seconds by that worker; readers look at its mtime
  pruned.pt      the pruned weights (CHECKPOINT), only when checkpoints are on; the worker writes it

The protocol (store/fs.py): a directory is built under a temporary dot-name and renamed into place,
so readers never see one without spec.json and status.json; JSON files are replaced atomically
(write + fsync + rename); JSONL files grow one whole line per write, and readers ignore a last line
that has no newline yet, so nobody ever sees a torn record. Only this module writes these files.

Damage is reported, never guessed away: a run directory that cannot be read, a spec.json or
status.json that is missing, truncated or garbled, or a metrics.jsonl with a garbled line (or, once
the run is finished, a cut-off last line) makes the run `damaged` (`status()`, `damage()`): it is
never scheduled or re-run by itself, and its readers show the file, the reason and `damage_fix`.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langprune.store.fs import (
    Damaged,
    append_bytes,
    append_jsonl,
    check_jsonl,
    last_jsonl,
    load_json,
    lock,
    lock_is_held,
    read_json,
    read_jsonl,
    read_tail,
    write_bytes_atomic,
    write_json_atomic,
    write_jsonl_atomic,
)

__all__ = [
    "CHECKPOINT",
    "DAMAGED",
    "FINAL_STATES",
    "STATES",
    "Damaged",
    "RunDir",
    "collapse_frames",
    "create",
    "iter_run_dirs",
    "progress_fraction",
    "read_json",
    "read_jsonl",
    "read_tail",
]

from langprune.vocab import DAMAGED, FINAL_STATES, STATES

CHECKPOINT = "pruned.pt"

# Where each stage sits in a run's overall progress; the bar only needs to move forward.
STAGE_SPAN = {
    "load": (0.0, 0.05),
    "calibration": (0.05, 0.10),
    "prune": (0.10, 0.60),
    "eval_ppl": (0.60, 0.85),
    "eval_tasks": (0.85, 0.95),
    "analysis": (0.95, 1.0),  # pruned cells only (engine/analysis/stage.py)
    "done": (1.0, 1.0),
}


def progress_fraction(event: dict[str, Any] | None) -> float:
    """A run's overall progress in [0, 1] from its last event (stage, step, total)."""
    if not event:
        return 0.0
    lo, hi = STAGE_SPAN.get(str(event.get("stage")), (0.0, 0.0))
    step, total = event.get("step"), event.get("total")
    inner = 0.0
    if isinstance(step, (int, float)) and isinstance(total, (int, float)) and total > 0:
        inner = min(max(step / total, 0.0), 1.0)
    return lo + (hi - lo) * inner


@dataclass(frozen=True)
class RunDir:
    """Paths and small operations on one run directory."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    spec = property(lambda self: self.path / "spec.json")
    status_file = property(lambda self: self.path / "status.json")
    events = property(lambda self: self.path / "events.jsonl")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    log = property(lambda self: self.path / "log.txt")
    lock = property(lambda self: self.path / "lock")
    heartbeat = property(lambda self: self.path / "heartbeat")
    analysis = property(lambda self: self.path / "analysis.jsonl")  # one row per analysis figure
    masks = property(lambda self: self.path / "masks.npz")  # format: store/masks.py

    def exists(self) -> bool:
        """True when this is a run directory: it has spec.json, or it cannot even be looked into
        (an unreadable run directory is a damaged run, not nothing)."""
        try:
            return stat.S_ISREG(os.stat(self.spec).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError:
            return True

    def load_spec(self) -> dict[str, Any]:
        """spec.json, strictly (fs.Damaged when it is missing, unreadable or not a JSON object)."""
        try:
            spec = load_json(self.spec)
        except FileNotFoundError:
            raise Damaged(self.spec, "is missing") from None
        if not isinstance(spec, dict):
            raise Damaged(self.spec, "is not a JSON object: garbled")
        return spec

    def read_spec(self) -> dict[str, Any] | None:
        """spec.json, or None when it cannot be read (see `damage` for why)."""
        try:
            return self.load_spec()
        except Damaged:
            return None

    def read_status(self) -> dict[str, Any]:
        """status.json, strictly: fs.Damaged when it is missing (a run directory is created with
        one), unreadable, truncated, garbled or names no known state."""
        try:
            status = load_json(self.status_file)
        except FileNotFoundError:
            if not self.path.is_dir():
                raise
            raise Damaged(self.status_file, "is missing") from None
        if not isinstance(status, dict):
            raise Damaged(self.status_file, "is not a JSON object: garbled")
        if status.get("state") not in STATES or status.get("state") == DAMAGED:
            raise Damaged(self.status_file, f"names no known state ({status.get('state')!r})")
        return status

    def status(self) -> dict[str, Any]:
        """status.json; for a damaged one, {"state": "damaged", "error": file and reason,
        "fix": what to do}: never a guess such as "queued"."""
        try:
            return self.read_status()
        except Damaged as exc:
            return self.damaged_status(str(exc))
        except FileNotFoundError:  # the directory itself is gone (removed meanwhile)
            return self.damaged_status(f"{self.path}: is gone")

    def damaged_status(self, why: str) -> dict[str, Any]:
        return {"state": DAMAGED, "error": f"damaged: {why}", "fix": damage_fix(self)}

    def state(self) -> str:
        return str(self.status().get("state", DAMAGED))

    def damage(self, status: dict[str, Any] | None = None, *, metrics: bool = True) -> str | None:
        """Why this run is damaged ('<file>: <reason>'), or None: its spec.json and status.json
        must read, and metrics.jsonl must have no garbled line and, once the run is finished, no
        cut-off last line (`metrics=False` leaves that to the caller: ingest checks it in bulk).
        Pass `status` when it was just read."""
        try:
            self.load_spec()  # also fails for a run dir that cannot be read at all
        except Damaged as exc:
            return str(exc)
        if status is None:
            status = self.status()
        if status.get("state") == DAMAGED:
            return str(status.get("error", "")).removeprefix("damaged: ")
        if not metrics:
            return None
        finished = status.get("state") in FINAL_STATES
        why = check_jsonl(self.metrics, complete=finished)
        return None if why is None else f"{self.metrics}: {why}"

    def set_status(self, state: str, **fields: Any) -> dict[str, Any]:
        """Move to `state`, keeping earlier fields (timestamps, host) and stamping this change.
        From a damaged status.json nothing is kept: the writer (the run's worker, a retry) knows
        the run's state, the damaged file does not."""
        if state not in STATES or state == DAMAGED:
            raise ValueError(f"unknown run state {state!r} (allowed: {', '.join(STATES[:-1])})")
        status = self.status()
        if status.get("state") == DAMAGED:
            status = {}
        status.update(fields)
        status["state"] = state
        status[f"{state}_at"] = time.time()
        status["updated_at"] = time.time()
        write_json_atomic(self.status_file, status)
        return status

    def add_event(self, **event: Any) -> None:
        event.setdefault("time", time.time())
        append_jsonl(self.events, event)

    def add_metric(self, row: dict[str, Any]) -> None:
        append_jsonl(self.metrics, row, sync=True)

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.metrics)[0]

    def write_analysis(self, rows: list[dict[str, Any]]) -> None:
        """Replace analysis.jsonl with `rows` atomically (an analysis stage rewrites it whole)."""
        write_jsonl_atomic(self.analysis, rows)

    def read_analysis(self) -> list[dict[str, Any]]:
        return read_jsonl(self.analysis)[0]

    def write_masks(self, data: bytes) -> None:
        """Replace masks.npz with `data` (bytes from store.masks.encode) atomically."""
        write_bytes_atomic(self.masks, data)

    def append_log(self, text: str) -> None:
        """Append whole lines to log.txt (the caller flushes its own stdout first)."""
        append_bytes(self.log, (text.rstrip("\n") + "\n").encode("utf-8"))

    def last_event(self) -> dict[str, Any] | None:
        return last_jsonl(self.events)

    def beat(self) -> None:
        """Refresh the heartbeat (its mtime is what readers look at)."""
        self.heartbeat.touch()

    def heartbeat_age(self) -> float | None:
        try:
            return time.time() - self.heartbeat.stat().st_mtime
        except OSError:  # missing, or in an unreadable run dir
            return None

    def is_locked(self) -> bool:
        """True while a live process holds the run's lock."""
        return lock_is_held(self.lock)

    @contextlib.contextmanager
    def try_lock(self) -> Iterator[bool]:
        """Hold the run's lock for the block if it is free; yields whether it is held.

        The holder's pid is written into the lock file (for people; nobody parses it).
        """
        with lock(self.lock) as fd:
            if fd is not None:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            yield fd is not None

    @contextlib.contextmanager
    def hold_lock(self) -> Iterator[None]:
        """Hold the run's lock for the life of the block; raises BlockingIOError if taken."""
        with self.try_lock() as held:
            if not held:
                raise BlockingIOError(f"run {self.id} is locked by another process")
            yield

    def keep_metrics(self, keep: Callable[[dict[str, Any]], bool]) -> None:
        """Rewrite metrics.jsonl with only the rows `keep` accepts (a resumed stage redoes the
        rest). Called under the run's lock, by its worker; replaced atomically."""
        rows = self.read_metrics()
        kept = [r for r in rows if keep(r)]
        if len(kept) != len(rows):
            write_jsonl_atomic(self.metrics, kept)

    def reset(self, forget: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
        """Forget an earlier attempt so that a retried run starts from scratch: metrics, events,
        heartbeat and the extra files named in `forget` go; the log stays and grows. The status
        becomes queued, counting the attempts made so far, with `fields` added."""
        previous = self.status()
        for name in ("metrics.jsonl", "events.jsonl", "heartbeat", *forget):
            (self.path / name).unlink(missing_ok=True)
        attempts = int(previous.get("attempts") or 0) + (previous.get("state") != "queued")
        now = time.time()
        status = {"state": "queued", "queued_at": now, "updated_at": now}
        status.update(attempts=attempts, **fields)
        write_json_atomic(self.status_file, status)
        return status

    def write_status(self, status: dict[str, Any]) -> None:
        """Replace status.json as a whole (the launcher's and tests' rewrites); prefer set_status."""
        if status.get("state") not in STATES or status.get("state") == DAMAGED:
            raise ValueError(
                f"unknown run state {status.get('state')!r} (allowed: {', '.join(STATES)})"
            )
        write_json_atomic(self.status_file, status)


def collapse_frames(text: str) -> str:
    """Log text with every progress bar at its last frame: a line that a library redrew with
    carriage returns (tqdm, GGUF loading) keeps only what was drawn last ("a\\r\\n" is "a")."""
    if "\r" not in text:
        return text
    out = []
    for line in text.split("\n"):
        if "\r" in line:
            frames = [f for f in line.split("\r") if f.strip()]
            line = frames[-1] if frames else ""
        out.append(line)
    return "\n".join(out)


def create(runs_root: Path, run_id: str, spec: dict[str, Any]) -> RunDir:
    """Create a run directory (queued) all at once: built under a temporary name, then renamed."""
    rd = RunDir(runs_root / run_id)
    if rd.exists():
        return rd
    runs_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(dir=runs_root, prefix=f".{run_id}."))
    write_json_atomic(tmp / "spec.json", spec)
    write_json_atomic(tmp / "status.json", {"state": "queued", "queued_at": time.time()})
    try:
        os.rename(tmp, rd.path)
    except OSError:  # another process created it first
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    return rd


def damage_fix(rd: RunDir) -> str:
    """What to do about a damaged run: repair its files, or run it again from scratch."""
    return (
        f"repair or restore the files in {rd.path} (chmod u+rwX if they are unreadable), or run "
        f"it again from scratch: langprune retry {rd.id}"
    )


def iter_run_dirs(runs_root: Path) -> Iterator[RunDir]:
    """Every run directory (temporary ones being created are skipped; unreadable ones are not:
    they are damaged runs). A runs folder that cannot be listed is a StoreError saying so."""
    try:
        entries = sorted(os.scandir(runs_root), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        from langprune.store.errors import StoreError

        raise StoreError(
            f"cannot read the runs folder {runs_root}: {exc.strerror or exc}",
            f"give yourself access to it: chmod u+rwx {runs_root}",
        ) from None
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir and not entry.name.startswith("."):
            rd = RunDir(Path(entry.path))
            if rd.exists():
                yield rd
