"""One of the processes of the concurrency test: write runs as a worker would, ingest, query.

    python -m tests.store.hammer WORKSPACE INDEX BARRIER_DIR

Once imported it creates BARRIER_DIR/ready-INDEX and waits for BARRIER_DIR/go, which holds
"WRITE_UNTIL END_AT" (unix times): a loaded machine may take long to start eight interpreters,
and the clock must not run before all of them are up. Until WRITE_UNTIL it creates runs and appends their metric rows (one line written in
two pieces, like a worker caught mid-write); until END_AT it ingests and queries in a loop, and it
always ingests once more after WRITE_UNTIL. Prints one JSON line: what it wrote and any errors.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

from langprune.engine.spec.experiment import Experiment
from langprune.store import rundir
from langprune.store.ingest import ingest
from langprune.store.queries import compare, list_runs, metric_choices
from tests.store.helpers import ppl_row


def main() -> None:
    ws, index, barrier = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    (barrier / f"ready-{index}").touch()
    deadline = time.time() + 120
    while not (barrier / "go").exists() and time.time() < deadline:
        time.sleep(0.02)
    write_until, end_at = map(float, (barrier / "go").read_text().split())
    runs = Experiment.model_validate(
        {
            "name": f"hammer{index}",
            "models": [{"id": "random:llama-tiny"}],
            "pruning": {"methods": ["wanda"], "sparsity": [0.5]},
            "calibration": {"languages": ["en", "de"], "seeds": list(range(index * 1000, index * 1000 + 100))},
            "evaluation": {"languages": ["en", "de"]},
            "dense_baseline": False,
        }
    ).runs()  # fmt: skip
    written: dict[str, int] = {}
    errors: list[str] = []
    queries = 0
    final_done = False
    step = 0
    while time.time() < end_at or not final_done:
        now = time.time()
        try:
            if now < write_until and step < len(runs):
                run = runs[step]
                rd = rundir.create(ws / "runs", run.id, run.model_dump(mode="json"))
                rd.set_status("running", host="hammer", pid=os.getpid())
                for i, lang in enumerate(("en", "de", "sw")):
                    line = json.dumps(ppl_row(lang, 10.0 + i + step)) + "\n"
                    fd = os.open(rd.metrics, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
                    os.write(fd, line[:30].encode())
                    time.sleep(0.001)
                    os.write(fd, line[30:].encode())
                    os.close(fd)
                rd.set_status("done")
                written[run.id] = 3
                step += 1
            started = time.time()
            ingest(ws, timeout=60)
            if started > write_until + 0.2:
                final_done = True
            if "ppl" in metric_choices(ws, refresh=False):
                compare(ws, "ppl", refresh=False)
            list_runs(ws, f"experiment=hammer{index} state=done", refresh=False)
            queries += 1
        except Exception:
            errors.append(traceback.format_exc())
            if len(errors) > 5:
                break
    print(json.dumps({"written": written, "errors": errors, "queries": queries}))


if __name__ == "__main__":
    main()
