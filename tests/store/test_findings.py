"""The demo's finding: in how many evaluation languages the same-language calibration won."""

from __future__ import annotations

from pathlib import Path

import pytest

from langprune.engine.data.handbook import DemoSetupError, ensure_handbook, handbook_present
from langprune.store.findings import diagonal_wins
from langprune.store.table import Cell, CompareTable


def _cell(row: str, lang: str, best: bool) -> Cell:
    return Cell(row=row, column=lang, task="perplexity", language=lang, mean=1.0, std=None, n=1,
                values=(1.0,), seeds=(0,), diagonal=lang in row.split("+"), best=best)  # fmt: skip


def _table(best: dict[str, list[str]], rows: list[str]) -> CompareTable:
    cells = {}
    for column, winners in best.items():
        for row in rows:
            cells[(row, column)] = _cell(row, column, row in winners)
    return CompareTable(metric="bpb", higher_is_better=False, delta=None, model=None, method=None,
                        sparsity=None, corpus=None, task=None, rows=["dense", *rows],
                        columns=list(best), cells=cells)  # fmt: skip


def test_counts_columns_won_by_their_own_language() -> None:
    table = _table(
        {"de": ["de"], "en": ["de"], "ru": ["ru", "en"], "zh": ["en+zh"]},
        ["de", "en", "ru", "en+zh"],
    )
    wins = diagonal_wins(table)
    assert (wins.wins, wins.columns) == (
        2,
        4,
    )  # de and ru (a tie that includes ru); a mix does not win
    assert wins.winners == {"de": "de", "en": "de", "ru": "en/ru", "zh": "en+zh"}
    assert wins.sentence() == "diagonal wins: 2 of 4 (2 clear)"


def test_columns_without_pruned_values_are_left_out() -> None:
    table = _table({"de": ["de"]}, ["de"])
    table.columns.append("ar")
    assert (diagonal_wins(table).wins, diagonal_wins(table).columns) == (1, 1)


def test_handbook_check(tmp_path: Path) -> None:
    assert not handbook_present(tmp_path / "missing")
    (tmp_path / "html" / "de-DE").mkdir(parents=True)
    assert handbook_present(tmp_path / "html")
    assert ensure_handbook(tmp_path / "html") == "present"


def test_missing_handbook_names_the_fix_when_it_cannot_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sudo, but apt-get "exists"
    (tmp_path / "apt-get").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "apt-get").chmod(0o755)
    with pytest.raises(DemoSetupError, match="sudo apt-get install debian-handbook"):
        ensure_handbook(tmp_path / "none")
