"""First paint of the TUI: time from a fresh Python process to the first frame (target < 0.5 s).

    .venv/bin/python benchmarks/tui_start.py [--workspace WS] [--repeat 5] [--screen runs]

Each repeat starts a new interpreter (so imports are cold as for a user) that opens the app
headless and exits on Textual's `Ready` event, sent once the first frame is on screen. Reported:
the in-process time (imports + app start + first paint), and the whole process wall time including
interpreter start-up, as the median over the repeats. Also checks that no torch was imported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import sys, time, json
t0 = time.perf_counter()
from pathlib import Path
from langprune.tui.app import LangpruneApp

class Timed(LangpruneApp):
    def on_ready(self) -> None:
        self.first_paint = time.perf_counter() - t0
        self.exit()

app = Timed(Path(sys.argv[1]), start=sys.argv[2])
app.run(headless=True, size=(80, 24))
heavy = [m for m in ("torch", "transformers", "lm_eval", "duckdb") if m in sys.modules]
print(json.dumps({"first_paint_s": app.first_paint, "heavy_modules_at_exit": heavy}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--screen", default="runs", choices=["compose", "runs", "results", "compare"])
    args = ap.parse_args()
    ws = args.workspace or Path(tempfile.mkdtemp(prefix="lp-bench-"))
    (ws / "runs").mkdir(parents=True, exist_ok=True)
    child = Path(tempfile.mkdtemp(prefix="lp-bench-child-")) / "first_paint.py"
    child.write_text(CHILD)  # a file, not -c: Textual finds app CSS relative to class files
    inner, outer, heavy = [], [], set()
    for _ in range(args.repeat):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, str(child), str(ws), args.screen],
            capture_output=True,
            text=True,
            check=True,
        )
        outer.append(time.perf_counter() - start)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        inner.append(result["first_paint_s"])
        heavy.update(result["heavy_modules_at_exit"])
    report = {
        "screen": args.screen,
        "repeats": args.repeat,
        "first_paint_in_process_median_s": round(statistics.median(inner), 3),
        "process_wall_median_s": round(statistics.median(outer), 3),
        "target_s": 0.5,
        "ok": statistics.median(inner) < 0.5,
        "heavy_modules_imported_by_exit": sorted(heavy),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
