"""Write an experiment dict as preset TOML (the stdlib reads TOML but cannot write it).

Only what presets contain is supported: strings, ints, floats, bools, lists of those, tables and
arrays of tables. The output reads back with tomllib to the same data (tested).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"{v!r} cannot be written to a preset")
        return repr(v)
    if isinstance(v, str):
        # JSON string escapes are valid TOML basic-string escapes for everything json.dumps emits
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _table(data: dict[str, Any], prefix: str, out: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) and not _is_table_array(v)}
    for k, v in scalars.items():
        if v is None:
            continue  # TOML has no null: an absent key means the default
        out.append(f"{_key(k)} = {_value(v)}")
    for k, v in data.items():
        path = f"{prefix}.{_key(k)}" if prefix else _key(k)
        if isinstance(v, dict):
            out.append("")
            out.append(f"[{path}]")
            _table(v, path, out)
        elif _is_table_array(v):
            for item in v:
                out.append("")
                out.append(f"[[{path}]]")
                _table(item, path, out)


def dumps(data: dict[str, Any], header: str = "") -> str:
    out: list[str] = [f"# {line}" for line in header.splitlines()]
    _table(data, "", out)
    return "\n".join(out).strip("\n") + "\n"
