"""Load experiment presets (TOML) by name or path, refusing bad input with a SpecError."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from langprune.engine.spec.errors import SpecError, problems_from
from langprune.engine.spec.experiment import Experiment

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def builtin_dir() -> Path:
    """The folder of presets shipped with the package."""
    return Path(str(resources.files("langprune.presets")))


def user_dir(workspace: Path | None) -> Path | None:
    return workspace / "presets" if workspace else None


def available(workspace: Path | None = None) -> dict[str, Path]:
    """Preset name -> file; presets saved in the workspace shadow the shipped ones."""
    found = {p.stem: p for p in sorted(builtin_dir().glob("*.toml"))}
    udir = user_dir(workspace)
    if udir and udir.is_dir():
        found.update({p.stem: p for p in sorted(udir.glob("*.toml"))})
    return found


def resolve(name_or_path: str, workspace: Path | None = None) -> Path:
    """A preset's file from its name or a path; SpecError when neither exists."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".toml" or "/" in name_or_path:
        if path.is_file():
            return path
        raise SpecError([f"preset: no such file {name_or_path!r} (give an existing .toml path)"])
    presets = available(workspace)
    if name_or_path in presets:
        return presets[name_or_path]
    import difflib

    close = difflib.get_close_matches(name_or_path, list(presets), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise SpecError(
        [
            f"preset: no preset named {name_or_path!r}{hint} (available: {', '.join(presets)}; "
            "or give a path to a .toml file)"
        ]
    )


def parse_toml(text: str, origin: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError([f"{origin}: malformed TOML: {exc}"]) from None


def from_dict(data: dict, origin: str = "preset", base: Path | None = None) -> Experiment:
    """Validate a preset's data; relative task_paths resolve against `base` (the preset's folder)."""
    if base is not None:
        ev = data.get("evaluation")
        if isinstance(ev, dict) and isinstance(ev.get("task_paths"), list):
            ev["task_paths"] = [
                str((base / p).resolve()) if isinstance(p, str) and not Path(p).is_absolute() else p
                for p in ev["task_paths"]
            ]
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from(exc, Experiment)) from None


def load(name_or_path: str, workspace: Path | None = None) -> Experiment:
    path = resolve(name_or_path, workspace)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([f"preset: cannot read {path}: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            [
                f"preset: {path} is not a text file (byte {exc.start} is not UTF-8); "
                "a preset is a TOML file"
            ]
        ) from None
    return from_dict(parse_toml(text, str(path)), str(path), base=path.parent)
