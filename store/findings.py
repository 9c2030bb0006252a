"""The paper's question asked of a comparison table: does calibrating in a language win there?"""

from __future__ import annotations

from dataclasses import dataclass

from langprune.store.table import CompareTable


@dataclass(frozen=True)
class DiagonalWins:
    wins: int
    columns: int
    winners: dict[str, str]  # evaluation column -> best calibration row(s), joined by "/"

    def sentence(self) -> str:
        return f"diagonal wins: {self.wins} of {self.columns}"


def diagonal_wins(table: CompareTable) -> DiagonalWins:
    """In how many evaluation columns the best calibration language is that same language.

    Only single-language rows count as a win (a mix that contains the language does not), and a
    column without any pruned value is left out of the count.
    """
    wins = columns = 0
    winners: dict[str, str] = {}
    for column in table.columns:
        best = [
            table.cells[(row, column)]
            for row in table.rows
            if (row, column) in table.cells and table.cells[(row, column)].best
        ]
        if not best:
            continue
        columns += 1
        winners[column] = "/".join(cell.row for cell in best)
        wins += any(cell.row == cell.language for cell in best)
    return DiagonalWins(wins, columns, winners)
