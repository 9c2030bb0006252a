"""LangpruneError: the base of every error a user can cause (imports nothing of ours).

Protocol: an error a user can cause and fix (a bad preset, a busy or broken store, a missing
corpus or model, a refused runner request, a demo that cannot be set up) is a subclass of
LangpruneError carrying `message` (what is wrong: field, value, allowed values) and `fix` (what to
do about it, one line; may be empty). The CLI reports it at one boundary (`langprune.cli.main`: the
message, then the fix, exit 2; StoreBusy exits 1) and the TUI at one boundary (a notification,
never a crash). Anything else is an internal bug and keeps its traceback.

A disk that refuses a write (full, over quota, read-only, failing) is a DiskError: `disk_error`
maps the OSError (or a library's error quoting it) to one, naming the cause, the path and the fix.

Subclasses keep the built-in base they had before (ValueError, RuntimeError) so existing
`except ValueError` code still catches them.
"""

from __future__ import annotations

import errno
import os
import re


class LangpruneError(Exception):
    """A user-facing error: `message` says what is wrong, `fix` what to do about it."""

    exit_code = 2

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def report(self) -> str:
        """The text the CLI prints: the message, then the fix on a line of its own when there is one."""
        return f"{self.message}\nfix: {self.fix}" if self.fix else self.message


class RunnerError(LangpruneError, ValueError):
    """The runner refused a request (unknown run, bad executor, nothing to launch...)."""


# The I/O errors a full, over-quota, read-only or failing disk raises: what it means, what to do.
_DISK_CAUSES = {
    errno.ENOSPC: ("the disk is full", "free space on it (df -h {where})"),
    errno.EDQUOT: ("the disk quota is used up", "free space within your quota (quota -s)"),
    errno.EFBIG: ("a file grew past the size limit", "raise `ulimit -f` or free space"),
    errno.EROFS: ("the file system is read-only", "remount it writable, or use another workspace"),
    errno.EIO: ("the disk reported an I/O error", "check the disk (dmesg) and that it is mounted"),
}
DISK_ERRNOS = frozenset(_DISK_CAUSES)
_QUOTED_PATH = re.compile(r"[\"'](/[^\"']+)[\"']")


class DiskError(LangpruneError):
    """A write or read that the disk refused (full, over quota, read-only, failing): `errno` says
    which, `path` where (None when unknown). Transient for the runner: it waits and retries."""

    def __init__(self, code: int, path: str | None, then: str = "run the command again") -> None:
        cause, fix = _DISK_CAUSES[code]
        where = os.path.dirname(path) if path else "."
        message = f"{cause} ({os.strerror(code)})" + (f": {path}" if path else "")
        super().__init__(message, f"{fix.format(where=where or '/')}, then {then}")
        self.errno = code
        self.path = path


def disk_error(exc: BaseException | None, then: str = "run the command again") -> DiskError | None:
    """The DiskError an exception means (an OSError with a disk errno, or a library's error whose
    text quotes one, such as DuckDB's "No space left on device"), also when it caused `exc`;
    None when it is something else. `then` ends the fix (what to do once space is back)."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, DiskError):
            return exc if then == "run the command again" else DiskError(exc.errno, exc.path, then)
        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
            path = exc.filename
            return DiskError(exc.errno, os.fsdecode(path) if path else None, then)
        text = str(exc)
        for code in DISK_ERRNOS:
            if os.strerror(code) in text:
                found = _QUOTED_PATH.search(text)
                return DiskError(code, found.group(1) if found else None, then)
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None
