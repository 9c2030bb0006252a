"""User strings are text, never markup: a model label and an experiment name written as Rich
markup show literally on every screen and in the CLI, and crash nothing (real app via Pilot, real
`langprune` processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from langprune.store.ingest import ingest
from langprune.tui.app import LangpruneApp
from tests.conftest import run_cli
from tests.tui import fakews
from tests.tui.conftest import wait_for

LABEL = "[/bold]x[red]"
NAME = "[/]exp[bold"
pytestmark = pytest.mark.anyio


def screen_text(app: LangpruneApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


@pytest.fixture
def marked_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = tmp_path / "ws"
    monkeypatch.setenv("LANGPRUNE_HOME", str(ws))
    fakews.build(ws, states={8: "failed"}, name=NAME, label=LABEL)
    ingest(ws)
    return ws


async def test_markup_in_labels_is_shown_as_text_in_the_tui(marked_ws: Path) -> None:
    for start in ("runs", "results", "compare"):
        app = LangpruneApp(marked_ws, start=start)
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda a=app: LABEL in screen_text(a), timeout=30)
            assert app.is_running, start
        assert app.return_code in (None, 0), start


def test_markup_in_labels_is_shown_as_text_in_the_cli(marked_ws: Path, tmp_path: Path) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text(
        f'name = "{NAME}"\n[[models]]\nid = "random:llama-tiny"\nlabel = "{LABEL}"\n'
        '[pruning]\nmethods = ["wanda"]\nsparsity = [0.5]\n[calibration]\nlanguages = ["en"]\n'
        '[calibration.corpus]\nsource = "synthetic"\n'
    )
    env = {"COLUMNS": "250"}
    for args in (
        ("plan", str(preset)),
        ("status",),
        ("results",),
        ("compare", "-m", "ppl", "--method", "wanda", "--sparsity", "0.5"),
    ):
        out = run_cli(*args, workspace=marked_ws, env=env)
        assert out.returncode == 0, (args, out.stderr)
        assert "Traceback" not in out.stderr
        assert LABEL in out.stdout, (args, out.stdout)
        if args[0] in ("plan", "results"):
            assert NAME in out.stdout, (args, out.stdout)
