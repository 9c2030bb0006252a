"""Where run directories and the results database live, and who may create the workspace.

A workspace is `--workspace`, else $LANGPRUNE_HOME, else $XDG_DATA_HOME/langprune
(~/.local/share/langprune). Only the commands that start runs (`run`, `demo`, the TUI on the
default location) create it; the read-only previews (`plan`, `presets`, `doctor`) say that it does
not exist yet, and every other command refuses a workspace that does not exist, naming it, so a
typo never becomes a new empty workspace. A workspace that is a file, or a directory this
user cannot write, is refused the same way (WorkspaceError: one line, exit 2, nothing written).

A workspace is private to its user (`make_private`): every process that uses one creates files
0600 and folders 0700 (umask 077), and the workspace itself is made 0700 also when it existed,
with what an older langprune left readable in it tightened once.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class WorkspaceError(ValueError):
    """The workspace cannot be used: missing, not a directory, or not writable.

    Like a LangpruneError it carries `message` and `fix` (this module imports nothing of ours;
    the CLI's `State.workspace` turns it into one).
    """

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def locate(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """The workspace's path, and whether it was named (--workspace or $LANGPRUNE_HOME)."""
    if explicit:
        path, named = Path(explicit), True
    elif os.environ.get("LANGPRUNE_HOME"):
        path, named = Path(os.environ["LANGPRUNE_HOME"]), True
    else:
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path, named = Path(xdg) / "langprune", False
    return path.expanduser().resolve(), named


def workspace(
    explicit: str | os.PathLike[str] | None = None,
    *,
    create: bool = True,
    optional: bool = False,
) -> Path:
    """The workspace, checked: it exists (created when `create`), is a directory and is writable.

    `optional`: a missing workspace is returned as it is (not created), for the read-only
    commands that work without one and say so (`plan`, `presets list|show`, `doctor`,
    `store path`).
    """
    path, named = locate(explicit)
    where = "--workspace" if explicit else ("$LANGPRUNE_HOME" if named else "the workspace")
    if not path.exists() and not path.is_symlink():
        if optional:
            return path
        if not create:
            raise WorkspaceError(
                f"{where}: workspace {path} does not exist",
                "check the path, or create it by launching runs there: "
                f"langprune --workspace {path} run PRESET",
            )
        try:
            os.umask(PRIVATE_UMASK)
            path.mkdir(parents=True, mode=0o700)
            (path / "runs").mkdir(mode=0o700)
        except OSError as exc:
            raise WorkspaceError(
                f"{where}: cannot create workspace {path}: {exc.strerror or exc}",
                "choose a directory you can write, e.g. --workspace ~/langprune-ws",
            ) from None
        make_private(path)
        return path
    check_usable(path, where)
    make_private(path)
    return path


PRIVATE_UMASK = 0o077  # files 0600, folders 0700


def make_private(path: Path) -> None:
    """Make the workspace user-only: this process (and the schedulers and workers it starts)
    creates files 0600 and folders 0700 from now on, and `path` itself becomes 0700. The first
    time a workspace is made private (its mode was wider), everything already in it is tightened
    too (folders 0700, files 0600). Files of other users are left as they are."""
    os.umask(PRIVATE_UMASK)
    try:
        st = os.stat(path)
    except OSError:
        return
    if st.st_uid != os.geteuid():
        return
    if st.st_mode & 0o077:  # first time: everything in it (run dirs included)
        _tighten(str(path), None)
    else:  # the database, logs, runner/, dense/ and the like: cheap, so every time
        _tighten(str(path), 2, skip=("runs", "model_cache"))
    _chmod(str(path), 0o700)  # last: a walk cut short is done again next time


def _tighten(top: str, depth: int | None, skip: tuple[str, ...] = ()) -> None:
    """Folders 0700 and files 0600 under `top`, `depth` levels deep (None: all)."""
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        _chmod(entry.path, 0o700 if is_dir else 0o600)
        if is_dir and entry.name not in skip and (depth is None or depth > 1):
            _tighten(entry.path, None if depth is None else depth - 1)


def _chmod(path: str, mode: int) -> None:
    try:
        st = os.lstat(path)
        if st.st_uid == os.geteuid() and not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
            os.chmod(path, mode)
    except OSError:
        pass  # vanished or not ours: nothing to tighten


def check_usable(path: Path, where: str = "the workspace") -> None:
    """WorkspaceError unless `path` is a directory this user can read, write and enter."""
    if not path.is_dir():
        raise WorkspaceError(
            f"{where}: workspace {path} is not a directory",
            "give a directory (or a path that does not exist yet) to --workspace",
        )
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise WorkspaceError(
            f"{where}: workspace {path} is not writable by this user",
            "fix its permissions (chmod u+rwx) or choose another --workspace",
        )


def runs_dir(ws: Path) -> Path:
    return ws / "runs"


def db_path(ws: Path) -> Path:
    return ws / "results.duckdb"
