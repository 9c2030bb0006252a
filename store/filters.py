"""Filter expressions for run listings, shared by the CLI and the TUI.

    method=wanda sparsity=0.5 state=failed calib=sw
    model=Llama-3-8B-Instruct seed!=0 lang=de,en id=3fa9 sparsity>=0.5

A filter is whitespace-separated terms `key OP value[,value...]`; terms are ANDed, the
comma-separated values of one term ORed. OP is `=` or `!=`; numeric keys (sparsity, seed,
nsamples, seqlen, achieved) also take `<`, `<=`, `>`, `>=`. The value `none` matches a missing
value (the dense baseline has no calibration language, sparsity or seed). `id=` matches a prefix.
`lang` is another name for `calib` (the calibration language; a mix like `en+de` is its own value).
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langprune.store.errors import FilterError
from langprune.store.records import RunRecord
from langprune.vocab import DENSE, METHODS, STATES, Sparsity

# key -> (SQL column(s), kind). kind: str | num | int | state | id | sparsity | method
_KEYS: dict[str, tuple[tuple[str, ...], str]] = {
    "id": (("id",), "id"),
    "experiment": (("experiment",), "str"),
    "model": (("model", "model_id"), "str"),
    "method": (("method",), "method"),
    "sparsity": (("sparsity",), "sparsity"),
    "calib": (("calibration_language",), "str"),
    "corpus": (("corpus",), "str"),
    "seed": (("seed",), "int"),
    "nsamples": (("nsamples",), "int"),
    "seqlen": (("seqlen",), "int"),
    "state": (("state",), "state"),
    "host": (("host",), "str"),
    "device": (("device",), "str"),
    "achieved": (("achieved_sparsity",), "num"),
}
ALIASES = {
    "lang": "calib",
    "calibration": "calib",
    "calibration_language": "calib",
    "exp": "experiment",
    "status": "state",
    "achieved_sparsity": "achieved",
}
KEYS = tuple(_KEYS)
_METHODS = (DENSE, *METHODS)
_TERM = re.compile(r"^([A-Za-z_]+)\s*(!=|<=|>=|=|<|>)\s*(.*)$")
_ORDERED = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class Condition:
    """One term: `key op values` (values already checked and canonical)."""

    key: str
    op: str
    values: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.key}{self.op}{','.join(self.values)}"


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=2, cutoff=0.5)
    return f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""


def _canonical_sparsity(term: str, value: str) -> str:
    try:
        return str(Sparsity.parse(value))
    except ValueError as exc:
        raise FilterError(f"filter {term!r}: {exc} (write 0.5, 50% or 2:4)") from None


def _check_value(term: str, key: str, kind: str, op: str, value: str) -> str:
    if value == "none":
        if op in _ORDERED:
            raise FilterError(f"filter {term!r}: 'none' can only be used with = or !=")
        return value
    if kind == "state" and value not in STATES:
        raise FilterError(
            f"filter {term!r}: unknown state {value!r} ({_suggest(value, STATES)}"
            f"allowed: {', '.join(STATES)})"
        )
    if kind == "method" and value not in _METHODS:
        raise FilterError(
            f"filter {term!r}: unknown method {value!r} ({_suggest(value, _METHODS)}"
            f"allowed: {', '.join(_METHODS)})"
        )
    if kind == "sparsity":
        value = _canonical_sparsity(term, value)
        if op in _ORDERED and ":" in value:
            raise FilterError(f"filter {term!r}: compare N:M patterns with = or != only")
    if kind in ("int", "num"):
        try:
            int(value) if kind == "int" else float(value)
        except ValueError:
            raise FilterError(f"filter {term!r}: {key} takes a number, not {value!r}") from None
    return value


def _parse_term(term: str) -> Condition:
    m = _TERM.match(term)
    if not m:
        raise FilterError(
            f"filter {term!r} is not key=value (e.g. method=wanda; keys: {', '.join(KEYS)})"
        )
    key, op, raw = m.group(1).lower(), m.group(2), m.group(3).strip()
    key = ALIASES.get(key, key)
    if key not in _KEYS:
        raise FilterError(
            f"filter {term!r}: unknown key {m.group(1)!r} ({_suggest(key, KEYS + tuple(ALIASES))}"
            f"allowed: {', '.join(KEYS)}, or lang as another name for calib)"
        )
    kind = _KEYS[key][1]
    if op in _ORDERED and kind not in ("int", "num", "sparsity"):
        raise FilterError(f"filter {term!r}: {key} can only be compared with = or !=")
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    if not values:
        raise FilterError(f"filter {term!r} has no value (e.g. {key}=...)")
    if op in _ORDERED and len(values) > 1:
        raise FilterError(f"filter {term!r}: {op} takes one value")
    return Condition(key, op, tuple(_check_value(term, key, kind, op, v) for v in values))


def parse_filter(expr: str | Sequence[str] | None) -> list[Condition]:
    """Parse a filter expression (a string, or the CLI's list of terms); FilterError if it is bad."""
    if expr is None:
        return []
    parts = [expr] if isinstance(expr, str) else list(expr)
    terms: list[str] = []
    for part in parts:
        try:
            terms += shlex.split(part)
        except ValueError as exc:  # an unbalanced quote
            raise FilterError(
                f"filter {part!r}: {exc} (close the quote, e.g. model='my model')"
            ) from None
    return [_parse_term(t) for t in terms]


def to_sql(conditions: Sequence[Condition], alias: str = "") -> tuple[str, list[Any]]:
    """A WHERE clause (without the keyword; 'TRUE' when empty) and its parameters."""
    prefix = f"{alias}." if alias else ""
    clauses: list[str] = []
    params: list[Any] = []
    for cond in conditions:
        columns, kind = _KEYS[cond.key]
        alternatives = []
        for value in cond.values:
            per_column = []
            for column in columns:
                col = f"{prefix}{column}"
                if value == "none":
                    per_column.append(f"{col} IS NULL")
                elif kind == "id":
                    per_column.append(f"starts_with({col}, ?)")
                    params.append(value)
                elif kind == "sparsity" and cond.op in _ORDERED:
                    per_column.append(f"{prefix}sparsity_fraction {cond.op} ?")
                    params.append(float(value))
                elif kind in ("int", "num"):
                    per_column.append(f"{col} {'=' if cond.op == '!=' else cond.op} ?")
                    params.append(int(value) if kind == "int" else float(value))
                else:
                    per_column.append(f"{col} = ?")
                    params.append(value)
            alternatives.append("(" + " OR ".join(per_column) + ")")
        clause = "(" + " OR ".join(alternatives) + ")"
        # != keeps rows where the column is missing, as a person reading `seed!=0` expects.
        if cond.op == "!=":
            clause = f"(NOT coalesce({clause}, FALSE))"
        clauses.append(clause)
    return (" AND ".join(clauses) or "TRUE"), params


# The columns of a run listing that the filter keys read (to_sql), filled from RunRecord fields.
_RECORD_COLUMNS = (
    ("id", "VARCHAR"),
    ("experiment", "VARCHAR"),
    ("model", "VARCHAR"),
    ("model_id", "VARCHAR"),
    ("method", "VARCHAR"),
    ("sparsity", "VARCHAR"),
    ("sparsity_fraction", "DOUBLE"),
    ("calibration_language", "VARCHAR"),
    ("corpus", "VARCHAR"),
    ("seed", "BIGINT"),
    ("nsamples", "BIGINT"),
    ("seqlen", "BIGINT"),
    ("state", "VARCHAR"),
    ("host", "VARCHAR"),
    ("device", "VARCHAR"),
    ("achieved_sparsity", "DOUBLE"),
)


def _record_values(r: RunRecord) -> tuple[Any, ...]:
    return (
        r.id,
        r.experiment,
        r.model,
        r.model_id,
        r.method,
        r.sparsity,
        r.sparsity_fraction,
        r.calibration_language,
        r.corpus,
        r.seed,
        r.nsamples,
        r.seqlen,
        r.state,
        r.host,
        r.device,
        r.achieved,
    )


def filter_records(rows: Sequence[RunRecord], conditions: Sequence[Condition]) -> list[RunRecord]:
    """The RunRecords (store/records.py, read from run dirs) that `conditions` keep, in order.

    Exactly the semantics of `results`: the rows go into a throw-away in-memory DuckDB table and
    this module's own WHERE clause (to_sql) selects from it. Used by the runs screen and by the
    CLI's `cancel`/`retry` filter terms, which read live run dirs, not the database.
    """
    if not conditions:
        return list(rows)
    import duckdb

    where, params = to_sql(conditions)
    con = duckdb.connect(":memory:")
    try:
        columns = ", ".join(f"{name} {kind}" for name, kind in _RECORD_COLUMNS)
        con.execute(f"CREATE TABLE runs ({columns}, pos BIGINT)")
        con.executemany(
            "INSERT INTO runs VALUES (" + ", ".join("?" * (len(_RECORD_COLUMNS) + 1)) + ")",
            [(*_record_values(r), i) for i, r in enumerate(rows)],
        )
        keep = con.execute(f"SELECT pos FROM runs WHERE {where} ORDER BY pos", params).fetchall()
    finally:
        con.close()
    return [rows[p] for (p,) in keep]


def is_term(text: str) -> bool:
    """Whether a command-line word is a filter term (`key=value`, `seed>=1`), not a run id."""
    return bool(_TERM.match(text.strip()))
