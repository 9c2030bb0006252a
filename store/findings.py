"""The paper's question asked of a comparison table: does calibrating in a language win there?"""

from __future__ import annotations

from dataclasses import dataclass

from langprune.store.table import CompareTable


@dataclass(frozen=True)
class DiagonalWins:
    wins: int  # columns whose top row (clear best, or one of a tie) is the column's language
    columns: int  # columns with at least one pruned value: what the count is over
    winners: dict[str, str]  # evaluation column -> top calibration row(s), joined by "/"
    clear: int = 0  # of the wins, those where the diagonal row is the clear best

    def sentence(self) -> str:
        return f"diagonal wins: {self.wins} of {self.columns} ({self.clear} clear)"


def diagonal_wins(table: CompareTable) -> DiagonalWins:
    """In how many evaluation columns the best calibration language is that same language.

    The top of a column is its clear best, else the rows tied with it (see `store.table`); a tie
    containing the diagonal row counts as a win but not as a clear one. Only single-language rows
    count (a mix that contains the language does not), and a column without any pruned value is
    left out of the count.
    """
    wins = clear = columns = 0
    winners: dict[str, str] = {}
    for column in table.columns:
        top = [
            table.cells[(row, column)]
            for row in table.rows
            if (row, column) in table.cells
            and (table.cells[(row, column)].best or table.cells[(row, column)].tie)
        ]
        if not top:
            continue
        columns += 1
        winners[column] = "/".join(cell.row for cell in top)
        won = [cell for cell in top if cell.row == cell.language]
        wins += bool(won)
        clear += any(cell.best for cell in won)
    return DiagonalWins(wins, columns, winners, clear)
