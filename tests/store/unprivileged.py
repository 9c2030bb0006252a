"""Running the real CLI as a user that file permissions apply to.

Root reads every file whatever its mode, so a test of "an unreadable run directory" run as root
(CI is) would prove nothing. As root, `cli_as_user` hands the workspace to the `nobody` user and
runs the CLI as that user; as anyone else it runs the CLI as it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NOBODY = 65534


def as_root() -> bool:
    return os.geteuid() == 0


@contextmanager
def open_dir() -> Iterator[Path]:
    """A folder every user can pass through (pytest's tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="langprune-perm-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def give_away(path: Path) -> None:
    """As root: make `path` and everything in it belong to the unprivileged user."""
    if not as_root():
        return
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), NOBODY, NOBODY)
    os.lchown(path, NOBODY, NOBODY)


def _as_nobody() -> list[str]:
    if not as_root():
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to run the CLI unprivileged"
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def cli_as_user(workspace: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`langprune --workspace WS ARGS` as an unprivileged user (see the module docstring)."""
    env = {k: v for k, v in os.environ.items() if k != "LANGPRUNE_HOME"}
    env["HOME"] = str(workspace.parent)
    return subprocess.run(
        [*_as_nobody(), sys.executable, "-m", "langprune", "--workspace", str(workspace), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=workspace.parent,
    )
