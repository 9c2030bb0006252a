"""Where run directories and the results database live."""

from __future__ import annotations

import os
from pathlib import Path


def workspace(explicit: str | os.PathLike[str] | None = None, *, create: bool = True) -> Path:
    """--workspace, else $LANGPRUNE_HOME, else $XDG_DATA_HOME/langprune (~/.local/share/langprune)."""
    if explicit:
        path = Path(explicit)
    elif os.environ.get("LANGPRUNE_HOME"):
        path = Path(os.environ["LANGPRUNE_HOME"])
    else:
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(xdg) / "langprune"
    path = path.expanduser().resolve()
    if create and not path.exists():
        path.mkdir(parents=True, mode=0o700)
        (path / "runs").mkdir(mode=0o700)
    return path


def runs_dir(ws: Path) -> Path:
    return ws / "runs"


def db_path(ws: Path) -> Path:
    return ws / "results.duckdb"
