"""The file protocol every langprune writer and reader shares (no torch, nothing of ours imported).

1. **Atomic replace.** `write_text_atomic` (and `write_json_atomic` on top of it) writes a
   temporary file in the target's folder, fsyncs it and renames it over the target, so a reader
   sees the old file or the new one, never half of either. A failed write leaves no temporary.
2. **Whole-line appends.** `append_jsonl` writes one record as one `write` of one line to a file
   opened with O_APPEND, so concurrent appenders never interleave inside a line; a write that a
   full disk cuts short is taken back. An OSError of a write names its file (`naming`).
3. **Readers skip a torn tail.** `read_jsonl` returns only the lines that end in a newline (the
   last one may still be being written) and skips a corrupt line instead of hiding the others;
   `read_tail` and `last_jsonl` read only the end of a growing file. **Damage is named, never
   guessed away:** `load_json` tells a missing file from a damaged one (`Damaged`), and
   `check_jsonl` names a garbled line, or a cut-off last line once the writer has finished.
4. **One lock API.** `lock(path, shared=..., timeout=...)` holds an flock on `path` for a block
   and yields whether it got it within `timeout` seconds (0: one try). The kernel drops an flock
   when its process dies, so a crash never leaves a stale lock; each call opens its own file
   descriptor, so threads of one process exclude each other too. `lock_is_held` asks, without
   waiting, whether some live process holds it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import random
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_MAX_SLEEP = 0.05


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """Give an OSError raised in the block `path` as its filename when it has none (a write that
    hits a full disk says only "No space left on device"), so that its reader can name the file."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a reader sees the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with naming(path):
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


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8), atomically as `write_bytes_atomic`."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace `path` with `data` as indented, key-sorted JSON (see `write_text_atomic`)."""
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


class Damaged(Exception):
    """A file that is there but cannot be read as what it should be; `reason` says why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _why(exc: OSError) -> str:
    return f"cannot be read ({exc.strerror or type(exc).__name__})"


def load_json(path: Path) -> Any:
    """The JSON value in `path`, read strictly: FileNotFoundError when it is missing, Damaged
    when it cannot be read (permissions, a folder in its place) or is not JSON (truncated,
    garbled, not UTF-8). Nothing is guessed."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Damaged(path, _why(exc)) from None
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise Damaged(path, "is not UTF-8 text (garbled)") from None
    except json.JSONDecodeError as exc:
        what = (
            "is empty" if not data.strip() else f"is not valid JSON ({exc.msg} at byte {exc.pos})"
        )
        raise Damaged(path, f"{what}: truncated or garbled") from None


def read_json(path: Path) -> Any:
    """The JSON value in `path`, or None when the file is missing, unreadable or not JSON (for
    files that may be absent; run files are read with `load_json`, which tells these apart)."""
    try:
        return load_json(path)
    except (FileNotFoundError, Damaged):
        return None


def jsonl_line(record: dict[str, Any]) -> str:
    """One record as the one line the JSONL files hold (compact, key-sorted, newline-ended)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


def append_jsonl(path: Path, record: dict[str, Any], *, sync: bool = False) -> None:
    """Append one record as a single write of one line (O_APPEND keeps concurrent lines whole)."""
    append_bytes(path, jsonl_line(record).encode(), sync=sync)


def append_bytes(path: Path, data: bytes, *, sync: bool = False) -> None:
    """Append `data` with one write to a file opened with O_APPEND (created user-only). A write
    that a full disk cuts short is taken back (the file is truncated to where it was) and raised
    as ENOSPC, so no torn line is left behind (the files appended to have one writer each)."""
    with naming(path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            written = os.write(fd, data)
            if written < len(data):
                os.ftruncate(fd, os.fstat(fd).st_size - written)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)


def write_jsonl_atomic(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Replace a JSONL file with `records`, all at once (see `write_text_atomic`)."""
    write_text_atomic(path, "".join(jsonl_line(r) for r in records))


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


def check_jsonl(path: Path, *, complete: bool) -> str | None:
    """Why `path` is damaged, or None: it cannot be read, a whole line is not a JSON object, or
    (`complete`: its writer has finished) the last line lacks its newline (truncated)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _why(exc)
    lines = data.split(b"\n")
    for number, raw in enumerate(lines[:-1], 1):
        if not raw.strip():
            continue
        try:
            ok = isinstance(json.loads(raw), dict)
        except ValueError:  # JSONDecodeError, UnicodeDecodeError
            ok = False
        if not ok:
            return f"line {number} is not a JSON record (truncated or garbled)"
    if complete and lines[-1].strip():
        return f"line {len(lines)} was cut off (no newline): truncated"
    return None


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
    """The last complete record, reading only the file's tail (None when it cannot be read)."""
    try:
        data = read_tail(path, max_bytes)
    except OSError:
        return None
    if data is None:
        return None
    for raw in reversed(data.split(b"\n")[:-1]):
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            return record
    return None


def backoff(attempt: int) -> None:
    """Sleep before retry `attempt` (0, 1, ...) of something busy."""
    # Exponential backoff with full jitter, so waiting processes do not wake in lockstep.
    time.sleep(random.uniform(0.0005, min(_MAX_SLEEP, 0.002 * 2**attempt)))


@contextlib.contextmanager
def lock(path: Path, *, shared: bool = False, timeout: float = 0.0) -> Iterator[int | None]:
    """Hold an flock on `path` (created if missing) for the block.

    Yields the locked file descriptor, or None (holding nothing) when the lock stayed taken for
    `timeout` seconds; 0 tries once. Shared locks exclude only exclusive ones.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        deadline = time.monotonic() + timeout
        attempt = 0
        held: int | None = None
        while held is None:
            try:
                fcntl.flock(fd, mode)
                held = fd
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    break
                backoff(attempt)
                attempt += 1
        yield held
    finally:
        os.close(fd)  # also releases the lock


def lock_is_held(path: Path) -> bool:
    """True while some live process holds an flock on `path` (asks without waiting)."""
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
