"""Errors the store raises: LangpruneErrors (and ValueErrors) whose message can be shown as it is."""

from __future__ import annotations

from langprune.errors import LangpruneError


class StoreError(LangpruneError, ValueError):
    """Something the user can act on (the message says what)."""


class StoreBusy(StoreError):
    """The database stayed locked by another process for longer than the caller would wait."""


class FilterError(StoreError):
    """A filter expression that does not parse; the message names the token and the choices."""


class AmbiguousComparison(StoreError):
    """Several values of a field remain after filtering, and averaging across them would mislead.

    `field` is the filter to set (model, method, sparsity, corpus, nsamples, seqlen, evaluation)
    and `choices` its values, as strings.
    """

    def __init__(self, field: str, choices: list[str]) -> None:
        self.field = field
        self.choices = choices
        shown = ", ".join(repr(c) if " " in c else c for c in choices)
        super().__init__(
            f"several {field} values remain after filtering ({shown}); "
            f"choose one with --{field} (results are never averaged across them)"
        )
