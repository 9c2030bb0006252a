"""The langprune Textual app: four screens (modes) over one workspace, switched with single keys.

First paint is kept cheap: screens are imported when first shown, DuckDB and the store queries only
inside thread workers, and nothing here imports torch, transformers or lm_eval.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerFailed, WorkerState

from langprune.errors import LangpruneError
from langprune.tui.messages import ActionDone, WorkFailed

SCREENS_ORDER = ("compose", "runs", "results", "compare")


def _compose_screen() -> Screen:
    from langprune.tui.screens.compose import ComposeScreen

    return ComposeScreen()


def _runs_screen() -> Screen:
    from langprune.tui.screens.runs import RunsScreen

    return RunsScreen()


def _results_screen() -> Screen:
    from langprune.tui.screens.results import ResultsScreen

    return ResultsScreen()


def _compare_screen() -> Screen:
    from langprune.tui.screens.compare import CompareScreen

    return CompareScreen()


def _analysis_screen() -> Screen:
    from langprune.tui.screens.analysis import AnalysisScreen

    return AnalysisScreen()


class LangpruneApp(App[None]):
    """Compose, launch, watch and compare pruning runs. Quitting never stops a run."""

    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute: subclasses may live elsewhere
    TITLE = "langprune"
    ENABLE_COMMAND_PALETTE = False
    MODES: ClassVar = {
        "compose": _compose_screen,
        "runs": _runs_screen,
        "results": _results_screen,
        "compare": _compare_screen,
        "analysis": _analysis_screen,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show('compose')", "Compose"),
        Binding("2", "show('runs')", "Runs"),
        Binding("3", "show('results')", "Results"),
        Binding("4", "show('compare')", "Compare"),
        Binding("5", "show('analysis')", "Analysis", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, workspace: Path, start: str = "runs") -> None:
        super().__init__()
        self.workspace = workspace
        self.start = start if start in SCREENS_ORDER else "runs"

    @property
    def runs_root(self) -> Path:
        return self.workspace / "runs"

    def on_mount(self) -> None:
        self.switch_mode(self.start)

    def action_show(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)

    def action_help(self) -> None:
        from langprune.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    # ---- the one place errors and outcomes reach the user ----
    def on_action_done(self, message: ActionDone) -> None:
        self.notify(message.text, severity=message.severity, timeout=6, markup=False)  # type: ignore[arg-type]  # ActionDone.severity holds Textual's severity names

    def on_work_failed(self, message: WorkFailed) -> None:
        self.notify(f"{message.where}: {message.error}", severity="error", timeout=10, markup=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            err = event.worker.error
            what = (
                err.report().replace("\n", " | ")
                if isinstance(err, LangpruneError)
                else f"{type(err).__name__}: {err}"
            )
            self.notify(
                f"{event.worker.name or 'worker'}: {what}",
                severity="error",
                timeout=10,
                markup=False,  # errors quote user strings: text, never markup
            )

    def _handle_exception(self, error: Exception) -> None:
        """The TUI's one error boundary for user errors.

        A worker that raised a LangpruneError (bad preset, busy store, refused runner request) is
        shown by on_worker_state_changed as a notification, message and fix, and the app keeps
        running; any other exception is a bug and Textual exits with its traceback. Textual has
        no public hook for this: every unhandled error reaches App._handle_exception, so the
        override is the one place (screens' handlers stay free of per-call except clauses).
        """
        if isinstance(error, WorkerFailed) and isinstance(error.error, LangpruneError):
            return
        super()._handle_exception(error)


def run(workspace: Path, start: str = "runs") -> None:
    LangpruneApp(workspace, start=start).run()
