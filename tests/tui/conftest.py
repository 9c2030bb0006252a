"""Fixtures for the TUI tests: a deterministic workspace, and one produced by the real worker."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from langprune.store.fs import write_text_atomic
from langprune.store.rundir import RunDir
from tests.tui import fakews

# run index -> state in the deterministic workspace: one of each state the runs screen shows
STATES = {7: "running", 8: "failed", 9: "queued"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


@pytest.fixture
def fake_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run dirs written with store/rundir.py from real Run specs, fixed numbers and times.

    The 'running' run's lock is held by this process for the test, so the runner's lost-worker
    check sees a live worker, as it would on a real box.
    """
    ws = tmp_path / "ws"
    monkeypatch.setenv("LANGPRUNE_HOME", str(ws))
    ids = fakews.build(ws, states=STATES)
    running = RunDir(ws / "runs" / ids[7])
    with running.hold_lock():
        yield ws


async def wait_for(pilot, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Let the app work until `predicate()` holds (workers post their results as messages)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


def screen_text(app) -> str:
    """What the terminal shows now, as plain text lines."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


# ---- the real worker ----

TINY_GRID = {
    "name": "tui-e2e",
    "models": [{"id": "random:llama-tiny", "dtype": "float32", "device": "cpu"}],
    "pruning": {"methods": ["magnitude", "wanda"], "sparsity": [0.5]},
    "calibration": {
        "languages": ["en", "de"],
        "nsamples": 4,
        "seqlen": 32,
        "seeds": [0],
        "corpus": {"source": "synthetic"},
    },
    "evaluation": {"languages": ["en", "de"], "max_tokens": 512, "batch_size": 4},
}


def wait_done(ws: Path, ids: list[str], timeout: float) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = {rid: RunDir(ws / "runs" / rid).status() for rid in ids}
        if all(s.get("state") in ("done", "failed", "cancelled") for s in statuses.values()):
            return statuses
        if time.monotonic() > deadline:
            raise AssertionError(f"runs did not finish in {timeout}s: {statuses}")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def real_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace whose runs the real worker produced on a tiny random model (launched through
    engine.launcher, as `langprune run` does). Skips, saying why, when the worker cannot run."""
    from langprune.engine.run import launcher
    from langprune.engine.spec import presets
    from langprune.tui import tomlwrite

    ws = tmp_path_factory.mktemp("real") / "ws"
    (ws / "runs").mkdir(parents=True)
    # the same grid as a workspace preset, so the TUI can start from it
    write_text_atomic(ws / "presets" / "tui-e2e.toml", tomlwrite.dumps(TINY_GRID))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LANGPRUNE_HOME", str(ws))
        exp = presets.from_dict(dict(TINY_GRID))
        result = launcher.launch(exp, ws)
        statuses = wait_done(ws, result.queued, timeout=240)
    failed = {rid: s.get("error") for rid, s in statuses.items() if s.get("state") != "done"}
    if failed:
        pytest.skip(f"the real worker could not finish the tiny grid: {failed}")
    yield ws
    with contextlib.suppress(Exception):
        launcher.cancel(ws, None)


async def open_card(pilot, run_id: str, rows: int) -> None:
    """On the results screen: wait for `rows` rows, put the cursor on `run_id`, press Enter and
    wait until its card has loaded."""
    app = pilot.app
    screen = app.screen
    await wait_for(pilot, lambda: screen.query_one("#results-table").row_count == rows)
    table = screen.query_one("#results-table")
    ids = screen.columns.index("id")
    table.cursor_row = next(i for i, r in enumerate(table.rows) if r[ids] == run_id)
    await pilot.press("enter")
    await wait_for(pilot, lambda: getattr(app.screen, "loaded", False))
