"""SpecError: bad input refused before anything is written, one line per problem."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from langprune.errors import LangpruneError


class SpecError(LangpruneError):
    """Invalid experiment input; each problem names the field, the bad value and what is allowed."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as `list[X]` or `X | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _submodel(arg)
            if found:
                return found
    return None


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _submodel(field.annotation)
    return model


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part.startswith(
            ("function-", "literal[", "lax-", "str", "int", "float", "json-")
        ):
            out += f".{part}" if out else part
    return out or "(top level)"


def problems_from(error: ValidationError, root: type[BaseModel]) -> list[str]:
    """Turn a pydantic ValidationError into one readable line per problem."""
    lines: list[str] = []
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        # union branches repeat the same field; keep the clearest message
        clean = tuple(
            p
            for p in loc
            if not (isinstance(p, str) and ("[" in p or p in ("str", "int", "float", "bool")))
        )
        path = _path(clean)
        if err["type"] == "extra_forbidden":
            parent = _model_at(root, clean[:-1])
            allowed = sorted(parent.model_fields) if parent else []
            close = difflib.get_close_matches(str(clean[-1]), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            lines.append(f"{path}: unknown key{hint}; allowed keys here: {', '.join(allowed)}")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if "\n" in msg:  # model validators report several fully formed lines
            lines.extend(msg.splitlines())
            continue
        if err["type"] == "missing":
            lines.append(f"{path}: required but missing")
            continue
        shown = err.get("input")
        got = "" if isinstance(shown, (dict, BaseModel)) or shown is None else f" (got {shown!r})"
        if repr(shown) in msg:
            got = ""
        lines.append(f"{path}: {msg}{got}")
    # identical lines appear once (union branches)
    return list(dict.fromkeys(lines))
