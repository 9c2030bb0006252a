"""Make sure the offline demo corpus (Debian's debian-handbook) is installed (no torch)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from langprune.errors import LangpruneError

HANDBOOK_HTML = Path("/usr/share/doc/debian-handbook/html")
INSTALL = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "debian-handbook"]


class DemoSetupError(LangpruneError, RuntimeError):
    """The demo cannot run here until the user does one thing, which the message names."""


def handbook_present(root: Path = HANDBOOK_HTML) -> bool:
    return root.is_dir() and any(root.iterdir())


def ensure_handbook(root: Path = HANDBOOK_HTML) -> str:
    """Install debian-handbook with apt-get when we may (root or passwordless sudo); say what
    happened, or raise DemoSetupError with the one command the user must run."""
    if handbook_present(root):
        return "present"
    manual = "sudo apt-get install debian-handbook"
    if not shutil.which("apt-get"):
        raise DemoSetupError(
            "the demo corpus (the Debian Administrator's Handbook) is missing and this system has "
            "no apt-get; run the demo on Debian/Ubuntu, or use another corpus source in a preset"
        )
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif (
        shutil.which("sudo")
        and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0
    ):
        prefix = ["sudo", "-n"]
    else:
        raise DemoSetupError(f"the demo corpus is missing; install it once with: {manual}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], INSTALL):
        done = subprocess.run(prefix + cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0 and cmd is INSTALL:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
            raise DemoSetupError(f"installing debian-handbook failed ({tail[0]}); run: {manual}")
    if not handbook_present(root):
        raise DemoSetupError(f"debian-handbook installed but {root} is empty; run: {manual}")
    return "installed"
