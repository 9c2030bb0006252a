"""The run directory format, shared by the worker (writer) and the store, CLI and TUI (readers).

<runs>/<id>/ holds spec.json, status.json, events.jsonl, metrics.jsonl, log.txt and `lock`, which
the worker holds (flock) while alive, touching `heartbeat` every few seconds. JSON files are replaced
atomically (write + fsync + rename); JSONL files are appended one whole line per write, and readers
ignore a last line that has no newline yet, so nobody ever sees a torn record.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langprune.vocab import FINAL_STATES, STATES  # noqa: F401  (re-exported: rundir speaks them)


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace `path` with `data` as JSON so that a reader sees the old or the new file, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a reader sees the old or the new file, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def append_jsonl(path: Path, record: dict[str, Any], *, sync: bool = False) -> None:
    """Append one record as a single write of one line (O_APPEND keeps concurrent lines whole)."""
    line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_jsonl(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Complete records from byte `offset` on, and the offset after the last complete line.

    A last line without its newline is being written: it is left for the next read.
    """
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    records = []
    for raw in data[: end + 1].splitlines():
        if raw.strip():
            try:
                records.append(json.loads(raw))
            except json.JSONDecodeError:
                continue  # a corrupt line (disk full, crash) must not hide the others
    return records, offset + end + 1


def read_tail(path: Path, max_bytes: int = 65536) -> bytes | None:
    """The last `max_bytes` of a (possibly growing) file, or None when it does not exist."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - max_bytes))
            return fh.read()
    except FileNotFoundError:
        return None


def last_jsonl(path: Path, max_bytes: int = 65536) -> dict[str, Any] | None:
    """The last complete record, reading only the file's tail."""
    data = read_tail(path, max_bytes)
    if data is None:
        return None
    for raw in reversed(data.split(b"\n")[:-1]):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            continue
    return None


def lock_is_held(path: Path) -> bool:
    """True while some live process holds an flock on `path`."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we may just have taken
    return False


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
        return self.spec.is_file()

    def read_spec(self) -> dict[str, Any] | None:
        return read_json(self.spec)

    def status(self) -> dict[str, Any]:
        return read_json(self.status_file) or {"state": "queued"}

    def state(self) -> str:
        return str(self.status().get("state", "queued"))

    def set_status(self, state: str, **fields: Any) -> dict[str, Any]:
        """Move to `state`, keeping earlier fields (timestamps, host) and stamping this change."""
        if state not in STATES:
            raise ValueError(f"unknown run state {state!r} (allowed: {', '.join(STATES)})")
        status = self.status()
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
        write_bytes_atomic(
            self.analysis,
            "".join(
                json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in rows
            ).encode(),
        )

    def read_analysis(self) -> list[dict[str, Any]]:
        return read_jsonl(self.analysis)[0]

    def write_masks(self, data: bytes) -> None:
        """Replace masks.npz with `data` (bytes from store.masks.encode) atomically."""
        write_bytes_atomic(self.masks, data)

    def last_event(self) -> dict[str, Any] | None:
        return last_jsonl(self.events)

    def beat(self) -> None:
        """Refresh the heartbeat (its mtime is what readers look at)."""
        self.heartbeat.touch()

    def heartbeat_age(self) -> float | None:
        try:
            return time.time() - self.heartbeat.stat().st_mtime
        except FileNotFoundError:
            return None

    def is_locked(self) -> bool:
        """True while a live process holds the run's lock."""
        return lock_is_held(self.lock)

    @contextlib.contextmanager
    def hold_lock(self) -> Iterator[None]:
        """Hold the run's lock for the life of the block; raises BlockingIOError if taken."""
        fd = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            os.close(fd)


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


def iter_run_dirs(runs_root: Path) -> Iterator[RunDir]:
    """Every complete run directory (temporary ones being created are skipped)."""
    if not runs_root.is_dir():
        return
    for entry in sorted(os.scandir(runs_root), key=lambda e: e.name):
        if entry.is_dir() and not entry.name.startswith("."):
            rd = RunDir(Path(entry.path))
            if rd.exists():
                yield rd
