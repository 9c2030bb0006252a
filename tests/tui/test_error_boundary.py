"""The TUI's one error boundary: a LangpruneError in a worker is a notification, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import work

from langprune.errors import RunnerError
from langprune.tui.app import LangpruneApp
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.anyio


class _Probe(LangpruneApp):
    """The real app with two workers that fail: one with a user error, one with a bug."""

    @work(thread=True, name="probe")
    def user_error(self) -> None:
        raise RunnerError("run 'abc' is running", "cancel it first: langprune cancel abc")

    @work(thread=True, name="probe-bug")
    def bug(self) -> None:
        raise ZeroDivisionError("internal")


def _messages(app: LangpruneApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_a_user_error_in_a_worker_is_a_notification(fake_ws: Path) -> None:
    app = _Probe(fake_ws, start="runs")
    async with app.run_test(size=(100, 30)) as pilot:
        app.user_error()
        await wait_for(pilot, lambda: any("is running" in m for m in _messages(app)))
        await pilot.pause(0.2)
        assert app.is_running and app.return_code is None
        (text,) = [m for m in _messages(app) if "is running" in m]
        assert "cancel it first: langprune cancel abc" in text
        assert "RunnerError" not in text  # the user's words, not the class name


async def test_a_bug_in_a_worker_still_stops_the_app(fake_ws: Path) -> None:
    app = _Probe(fake_ws, start="runs")
    with pytest.raises(Exception) as info:
        async with app.run_test(size=(100, 30)) as pilot:
            app.bug()
            await pilot.pause(1.0)
    assert "internal" in repr(info.value) or app.return_code == 1
