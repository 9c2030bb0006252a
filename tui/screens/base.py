"""The base of every langprune screen: it knows its app's type.

Textual types `Screen.app` as any `App`; the screens read the app's workspace and run folder, so
`LangpruneScreen.app` is Textual's typed app getter for `LangpruneApp`, declared once here instead
of an ignore per use. (tui/app.py imports the screens only when first shown, so no import cycle.)
"""

from __future__ import annotations

from typing import TypeVar

from textual import getters
from textual.screen import Screen

from langprune.tui.app import LangpruneApp

ResultT = TypeVar("ResultT")


class LangpruneScreen(Screen[ResultT]):
    """A screen of the langprune app: `self.app` is the LangpruneApp (checked when read)."""

    app = getters.app(LangpruneApp)
