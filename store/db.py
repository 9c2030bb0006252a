"""Short-lived DuckDB connections that wait their turn instead of failing.

DuckDB lets one process hold a database file for writing (and refuses readers meanwhile). Every
langprune process (CLI, TUI threads, ingesting launchers) therefore opens the database only for the
span of one operation, and queues on a sidecar lock file (`<db>.lock`, flock: shared for readers,
exclusive for writers) before opening it. flock waits are cheap, survive nothing (the kernel drops
the lock when a process dies), and serialise threads of one process as well, since each call takes
its own file descriptor. DuckDB's own lock error can still come from a process outside langprune
(a user's `duckdb` shell): that is retried with backoff and jitter until the deadline.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from langprune.errors import LangpruneError, disk_error
from langprune.store import fs, schema
from langprune.store.errors import StoreBusy, StoreError

DEFAULT_TIMEOUT = 120.0


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Hold the database's sidecar flock for the block (fs.lock); StoreBusy after `timeout` s."""
    with fs.lock(path, shared=shared, timeout=timeout) as held:
        if held is None:
            raise StoreBusy(
                f"the results database {path.with_suffix('')} stayed busy for "
                f"{timeout:.0f} s (another langprune process is using it)"
            )
        yield


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


REBUILD_FIX = "langprune store rebuild  (recreates it from the run directories; nothing is lost)"
_DAMAGE_SIGNS = ("Corrupt database", "checksum", "not a valid DuckDB", "Could not read enough",
                 "replaying WAL", "Serialization Error")  # fmt: skip


def damaged(db_path: Path, exc: BaseException) -> LangpruneError | None:
    """The one-line error for a DuckDB error that means the database file itself is damaged
    (truncated, garbled, not a database, unreadable: a StoreError) or that its disk refused a
    write (full, read-only: a DiskError, and the database is not damaged), else None."""
    if not isinstance(exc, (duckdb.Error, OSError)):
        return None
    disk = disk_error(exc)
    if disk is not None:
        return disk
    text = str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, PermissionError) or "Permission denied" in text:
        return StoreError(
            f"the results database {db_path} cannot be read: {first}",
            f"give yourself access (chmod u+rw {db_path}) or {REBUILD_FIX}",
        )
    if any(sign in text for sign in _DAMAGE_SIGNS) or (
        isinstance(exc, duckdb.IOException) and str(db_path) in text
    ):
        return StoreError(f"the results database {db_path} is damaged: {first}", REBUILD_FIX)
    return None


# Starting a DuckDB instance costs ~20 ms; attaching a file to a running one ~2 ms. So each process
# keeps one in-memory instance and attaches the database file for each operation. DETACH closes
# the file and releases DuckDB's lock on it just as closing a connection would.
_INSTANCE: duckdb.DuckDBPyConnection | None = None
_INSTANCE_PID = 0  # a forked child must not use its parent's instance
_INSTANCE_LOCK = threading.Lock()
_ALIASES = itertools.count()


def _instance() -> duckdb.DuckDBPyConnection:
    global _INSTANCE, _INSTANCE_PID
    with _INSTANCE_LOCK:
        if _INSTANCE is None or os.getpid() != _INSTANCE_PID:
            _INSTANCE = duckdb.connect(":memory:")
            _INSTANCE_PID = os.getpid()
        return _INSTANCE


def _attach(
    db_path: Path, read_only: bool, deadline: float
) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A fresh cursor of the process's instance with `db_path` attached and in use."""
    cursor = _instance().cursor()
    alias = f"langprune_db_{next(_ALIASES)}"
    target = str(db_path).replace("'", "''")
    options = " (READ_ONLY)" if read_only else ""
    attempt = 0
    try:
        while True:
            try:
                cursor.execute(f"ATTACH '{target}' AS {alias}{options}")
                break
            except duckdb.Error as exc:
                if not _is_lock_conflict(exc):
                    problem = damaged(db_path, exc)
                    if problem is not None:
                        raise problem from None
                    raise
                if time.monotonic() > deadline:
                    raise StoreBusy(
                        f"the results database {db_path} is held by another program: {exc}"
                    ) from None
                fs.backoff(attempt + 3)
                attempt += 1
        cursor.execute(f"USE {alias}")
    except BaseException:
        cursor.close()
        raise
    return cursor, alias


def _detach(cursor: duckdb.DuckDBPyConnection, alias: str) -> None:
    try:
        cursor.execute("USE memory")
        cursor.execute(f"DETACH {alias}")
    finally:
        cursor.close()


# Databases this process has seen at the current schema version (skips a check per connection).
_CURRENT: set[tuple[str, int]] = set()


@contextlib.contextmanager
def connect(
    db_path: Path | str, read_only: bool = False, *, timeout: float = DEFAULT_TIMEOUT
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for one operation; the file is released when the block ends.

    A writable connection creates the database and migrates it to the current schema. A read-only
    one cannot write, so when the database is missing or older it first has a writable one do that.
    Unqualified table names refer to the database (it is the connection's current catalog).
    """
    db_path = Path(db_path)
    deadline = time.monotonic() + timeout
    if read_only and not _known_current(db_path, deadline):
        with connect(db_path, read_only=False, timeout=timeout):
            pass
    with file_lock(lock_path(db_path), shared=read_only, timeout=timeout):
        if not read_only:
            _drop_empty(db_path)
        cursor, alias = _attach(db_path, read_only, deadline)
        try:
            try:
                if not read_only:
                    schema.migrate(cursor)
                    _CURRENT.add(_key(db_path))
                yield cursor
            finally:
                _detach(cursor, alias)  # writes the checkpoint: a full disk can surface here
        except duckdb.Error as exc:
            problem = damaged(db_path, exc)  # a damaged block can surface in any query
            if problem is not None:
                raise problem from None
            raise


def _drop_empty(db_path: Path) -> None:
    """Remove an empty database file (a first write that a full disk refused leaves one): it
    holds nothing, and DuckDB would take it for a damaged database. Called under the write lock."""
    if _is_empty(db_path):
        db_path.unlink(missing_ok=True)


def _is_empty(db_path: Path) -> bool:
    try:
        size = db_path.stat().st_size
    except FileNotFoundError:
        return False
    return size == 0 and not db_path.with_name(db_path.name + ".wal").exists()


# `store sql` runs people's SQL: the connection can read the database and nothing else. DuckDB's
# own settings do the work: no file or network access (so no COPY TO, ATTACH, read_text, httpfs),
# no extension installed or loaded, and the configuration locked so that SET cannot undo it.
_QUERY_ONLY_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "lock_configuration": True,
}
_QUERY_TYPES = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)


def check_query(query: str) -> None:
    """Refuse anything but one query (SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN)."""
    if not query.strip():
        raise StoreError(
            "store sql: the query is empty",
            'give one, e.g. langprune store sql "SELECT * FROM runs"',
        )
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise StoreError(f"store sql: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise StoreError(
            f"store sql: give one query, not {len(statements)} statements", "drop the extra ones"
        )
    kind = statements[0].type
    if kind not in _QUERY_TYPES:
        raise StoreError(
            f"store sql runs queries only, not {kind.name} statements (the database is read-only)",
            "use SELECT, DESCRIBE, SHOW or EXPLAIN; `langprune store rebuild` rewrites the database",
        )


@contextlib.contextmanager
def query_only(
    db_path: Path, *, timeout: float = DEFAULT_TIMEOUT
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection of its own on `db_path` that can only read the database (see above)."""
    deadline = time.monotonic() + timeout
    with connect(db_path, read_only=True, timeout=timeout):
        pass  # creates or migrates the database if needed
    with file_lock(lock_path(db_path), shared=True, timeout=timeout):
        attempt = 0
        while True:
            try:
                con = duckdb.connect(str(db_path), read_only=True, config=_QUERY_ONLY_CONFIG)
                break
            except duckdb.Error as exc:
                problem = damaged(db_path, exc)
                if problem is not None:
                    raise problem from None
                if not _is_lock_conflict(exc) or time.monotonic() > deadline:
                    raise StoreBusy(
                        f"the results database {db_path} is held by another program: {exc}"
                    ) from None
                fs.backoff(attempt + 3)
                attempt += 1
        try:
            yield con
        finally:
            con.close()


def _key(db_path: Path) -> tuple[str, int]:
    # The inode tells a rebuilt (replaced) database from the one checked before.
    try:
        return str(db_path.resolve()), db_path.stat().st_ino
    except FileNotFoundError:
        return str(db_path), -1


def _known_current(db_path: Path, deadline: float) -> bool:
    """Whether the database exists at the current schema version (checked once per process)."""
    if not db_path.exists() or _is_empty(db_path):
        return False
    if _key(db_path) in _CURRENT:
        return True
    with file_lock(lock_path(db_path), shared=True, timeout=max(0.0, deadline - time.monotonic())):
        if not db_path.exists():
            return False
        cursor, alias = _attach(db_path, True, deadline)
        try:
            current = schema.is_current(cursor)
        finally:
            _detach(cursor, alias)
    if current:
        _CURRENT.add(_key(db_path))
    return current
