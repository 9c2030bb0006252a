"""The runs screen's `e` key: a done run's pruned model exported by `langprune export` in its own
process (the real command on a real run of a tiny random model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from langprune.tui.app import LangpruneApp
from tests.engine.run.test_export import launch, write_corpus
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.anyio


async def test_e_exports_the_selected_done_run(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    rd = launch(ws, write_corpus(tmp_path / "corpus"), "wanda")
    folder = ws / "exports" / f"model-{rd.id}"
    app = LangpruneApp(ws, start="runs")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.rows) == 1 and screen.current() is not None)
        await pilot.press("e")
        await wait_for(pilot, lambda: (folder / "README.md").is_file(), timeout=240)
        await wait_for(pilot, lambda: any(f"exported run {rd.id}" in n.message
                                          for n in app._notifications), timeout=30)  # fmt: skip
    assert (folder / "model.safetensors").is_file()
    assert f"run `{rd.id}`" in (folder / "README.md").read_text()
