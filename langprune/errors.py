"""LangpruneError: the base of every error a user can cause (imports nothing of ours).

Protocol: an error a user can cause and fix (a bad preset, a busy or broken store, a missing
corpus or model, a refused runner request, a demo that cannot be set up) is a subclass of
LangpruneError carrying `message` (what is wrong: field, value, allowed values) and `fix` (what to
do about it, one line; may be empty). The CLI reports it at one boundary (`langprune.cli.main`: the
message, then the fix, exit 2; StoreBusy exits 1) and the TUI at one boundary (a notification,
never a crash). Anything else is an internal bug and keeps its traceback.

Subclasses keep the built-in base they had before (ValueError, RuntimeError) so existing
`except ValueError` code still catches them.
"""

from __future__ import annotations


class LangpruneError(Exception):
    """A user-facing error: `message` says what is wrong, `fix` what to do about it."""

    exit_code = 2

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def report(self) -> str:
        """The text the CLI prints: the message, then the fix on a line of its own when there is one."""
        return f"{self.message}\nfix: {self.fix}" if self.fix else self.message


class RunnerError(LangpruneError, ValueError):
    """The runner refused a request (unknown run, bad executor, nothing to launch...)."""
