"""Filter expressions: parsing, clear errors, and what they select."""

from __future__ import annotations

from pathlib import Path

import pytest

from langprune.store.errors import FilterError
from langprune.store.queries import list_runs, parse_filter
from tests.store.helpers import write_known


def test_parse() -> None:
    conds = parse_filter("method=wanda sparsity=50% state=failed calib=sw,de seed!=0")
    assert [str(c) for c in conds] == [
        "method=wanda", "sparsity=0.5", "state=failed", "calib=sw,de", "seed!=0"
    ]  # fmt: skip
    assert str(parse_filter(["lang=de", "sparsity=2:4"])[0]) == "calib=de"
    assert parse_filter("") == [] and parse_filter(None) == []


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("methd=wanda", "unknown key 'methd' (did you mean 'method'?"),
        ("state=done,finished", "unknown state 'finished'"),
        ("method=wandaa", "did you mean 'wanda' or 'wanda_owl'?"),
        ("wanda", "is not key=value"),
        ("seed=", "has no value"),
        ("seed=x", "seed takes a number"),
        ("sparsity=half", "not a sparsity"),
        ("method>wanda", "can only be compared with = or !="),
        ("calib='sw", "No closing quotation"),
    ],
)
def test_errors_name_the_problem(expr: str, message: str) -> None:
    with pytest.raises(FilterError, match=message.replace("(", r"\(").replace("?", r"\?")):
        parse_filter(expr)


@pytest.mark.parametrize(
    ("expr", "count"),
    [
        ("", 7),
        ("method=wanda", 6),
        ("method=dense", 1),
        ("calib=sw", 2),
        ("lang=sw,de", 4),
        ("calib=none", 1),
        ("calib!=none", 6),
        ("seed!=1", 4),  # != keeps the dense run, which has no seed
        ("seed<1 method=wanda", 3),
        ("sparsity>=0.5", 6),
        ("sparsity=0.5 calib=en", 2),
        ("sparsity=2:4", 0),
        ("state=failed", 0),
        ("state=done", 7),
        ("model=llama-tiny", 7),
        ("model=random:llama-tiny", 7),
        ("experiment=known corpus=synthetic", 6),
    ],
)
def test_selects(workspace: Path, expr: str, count: int) -> None:
    if not (workspace / "runs").exists():
        write_known(workspace)
    assert len(list_runs(workspace, expr)) == count


def test_id_prefix(workspace: Path) -> None:
    runs = write_known(workspace)
    found = list_runs(workspace, f"id={runs[3].id[:5]}")
    assert [r["id"] for r in found] == [runs[3].id]
