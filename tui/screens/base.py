"""The base of every langprune screen: it knows its app's type.

Textual types `Screen.app` as any `App`; the screens read the app's workspace and run folder, so
`LangpruneScreen.app` narrows it to `LangpruneApp` once, here, instead of an ignore per use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar, cast

from textual.screen import Screen

if TYPE_CHECKING:
    from langprune.tui.app import LangpruneApp

ResultT = TypeVar("ResultT")


class LangpruneScreen(Screen[ResultT]):
    """A screen of the langprune app (`self.app` is a LangpruneApp)."""

    @property
    def app(self) -> LangpruneApp:
        # Screens are only ever mounted by LangpruneApp (or a subclass, in tests).
        return cast("LangpruneApp", super().app)
