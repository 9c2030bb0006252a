"""Typed messages: thread workers send their results to the UI thread only through these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class RunsPolled(Message):
    """A fresh reading of every run directory (runs screen)."""

    rows: list[Any]  # list[store.records.RunRecord], in display order
    filter_error: str | None = None
    monitor: Any | None = None  # tui.monitor.Monitor: ETAs, slots, counts


@dataclass
class LogTail(Message):
    run_id: str
    lines: list[str]


@dataclass
class LogGrew(Message):
    """New whole lines of a log being followed, and the line still being drawn (log screen)."""

    run_id: str
    lines: list[str]
    partial: str = ""


@dataclass
class ActionDone(Message):
    """A cancel, retry, launch, save or export finished; `text` is what to tell the user."""

    text: str
    severity: str = "information"  # information | warning | error


@dataclass
class Launched(Message):
    queued: list[str]
    skipped: list[str]


@dataclass
class PreviewReady(Message):
    """Validation problems and grid preview for the compose form."""

    generation: int
    problems: list[str]
    preview: Any | None  # preview.Preview
    experiment: Any | None = None  # the validated Experiment, when there are no problems


@dataclass
class FormLoaded(Message):
    """Presets and recent models found in the workspace (compose screen)."""

    presets: dict[str, str]  # name -> path
    recent_models: list[str]


@dataclass
class PresetData(Message):
    name: str
    data: dict[str, Any] | None
    problems: list[str]


@dataclass
class ResultsLoaded(Message):
    columns: list[str]
    rows: list[tuple[Any, ...]]
    total: int
    error: str | None = None
    all_rows: list[tuple[Any, ...]] | None = None  # set when freshly loaded (not re-sorted)


@dataclass
class CompareLoaded(Message):
    table: Any | None  # store CompareTable
    plot: Any | None  # list of series for the plot panel
    error: str | None = None
    auto: list[str] = field(default_factory=list)  # filters chosen for the user, as "k=v (of ...)"
    filters: dict[str, str | None] = field(default_factory=dict)  # the filters the table used
    facets: list[Any] = field(default_factory=list)  # (method, sparsity, table) per facet
    faceted: bool | None = None  # whether the facets were asked for (None: a redraw)


@dataclass
class ChoicesLoaded(Message):
    metrics: list[str]
    filters: dict[str, list[str]]


@dataclass
class WorkFailed(Message):
    """A worker raised: shown once, in one place (the app's error handler)."""

    where: str
    error: str


@dataclass
class CardLoaded(Message):
    """One run's files for its card (results screen, Enter)."""

    run_id: str
    record: Any | None  # store.records.RunRecord
    metrics: list[dict[str, Any]]
    log_tail: list[str]
    error: str = ""
