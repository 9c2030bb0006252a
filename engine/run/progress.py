"""Worker-side progress: the engine's progress callback turned into events, plus the heartbeat,
and the run log's own lines (`say`: one line per stage with its timing and outcome).

No torch here: memory is measured by a function the worker passes in.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from langprune.store.rundir import RunDir

# Engine callbacks can fire per batch; one event per interval is plenty for a progress bar.
MIN_EVENT_INTERVAL_S = 0.5
# The heartbeat thread repeats the last event when the engine has been quiet this long, so that a
# reader always sees progress "at least every few seconds" even inside one long layer.
QUIET_REPEAT_S = 3.0
HEARTBEAT_S = 2.0
# Per-layer pruning lines in the log: about ten per run, and one at least every 30 s.
LOG_LAYER_SHARE = 10
LOG_LAYER_EVERY_S = 30.0


def say(rd: RunDir, text: str) -> None:
    """One line of the worker's own in the run's log, with the wall-clock time."""
    sys.stdout.flush()
    sys.stderr.flush()
    rd.append_log(f"[{time.strftime('%H:%M:%S')}] {text}")


def seconds_text(seconds: float) -> str:
    """'0.4s', '12.3s', '3m05s', '1h02m'."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = round(seconds)
    return f"{s // 60}m{s % 60:02d}s" if s < 3600 else f"{s // 3600}h{(s % 3600) // 60:02d}m"


def rss_bytes() -> int | None:
    """Resident memory of this process (Linux), the CPU worker's memory figure."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


class Reporter:
    """The `progress(stage=..., step=..., total=..., **extra)` callback for one run.

    Adds time, memory and an ETA (from the rate within the current stage), writes at most one event
    per MIN_EVENT_INTERVAL_S except at stage changes and at the end of a stage.
    """

    def __init__(self, rd: RunDir, memory: Callable[[], int | None] = rss_bytes) -> None:
        self.rd = rd
        self.memory = memory
        self._lock = threading.Lock()
        self._stage: str | None = None
        self._stage_start = time.time()
        self._last_write = 0.0
        self._last: dict[str, Any] | None = None
        self._logged_step = 0  # the last layer of the prune stage written to the log
        self._logged_at = 0.0

    def _log_layer(self, step: int, total: int, now: float, extra: dict[str, Any]) -> None:
        """A log line per share of the layers pruned (and at least every LOG_LAYER_EVERY_S)."""
        every = max(1, math.ceil(total / LOG_LAYER_SHARE))
        due = step >= total or step - self._logged_step >= every
        if not due and now - self._logged_at < LOG_LAYER_EVERY_S:
            return
        self._logged_step, self._logged_at = step, now
        text = f"prune: layer {step}/{total} after {seconds_text(now - self._stage_start)}"
        eta = extra.get("eta_s")
        if isinstance(eta, (int, float)) and step < total:
            text += f", about {seconds_text(float(eta))} left"
        say(self.rd, text)

    def __call__(
        self, *, stage: str, step: int | None = None, total: int | None = None, **extra: Any
    ) -> None:
        now = time.time()
        with self._lock:
            if stage != self._stage:
                self._stage, self._stage_start = stage, now
                self._logged_step, self._logged_at = 0, now
                force = True
            else:
                force = step is not None and total is not None and step >= total
            event: dict[str, Any] = {"stage": stage, "step": step, "total": total}
            event.update({k: v for k, v in extra.items() if v is not None})
            if step and total and step < total and now > self._stage_start:
                rate = step / (now - self._stage_start)
                event["eta_s"] = round((total - step) / rate, 1) if rate > 0 else None
            elif step is not None and total is not None and step >= total:
                event["eta_s"] = 0.0
            self._last = event
            if stage == "prune" and step and total and total > 1:
                self._log_layer(int(step), int(total), now, extra)
            if force or now - self._last_write >= MIN_EVENT_INTERVAL_S:
                self._write(event, now)

    def _write(self, event: dict[str, Any], now: float) -> None:
        record = dict(event)
        if "mem_bytes" not in record:
            mem = self.memory()
            if mem is not None:
                record["mem_bytes"] = mem
        record["time"] = now
        self.rd.add_event(**record)
        self._last_write = now

    def repeat_if_quiet(self) -> None:
        """Re-emit the last event (fresh time and memory) when nothing was written for a while."""
        now = time.time()
        with self._lock:
            if self._last is not None and now - self._last_write >= QUIET_REPEAT_S:
                event = {k: v for k, v in self._last.items() if k != "mem_bytes"}
                self._write(event, now)


class Heartbeat:
    """A daemon thread that touches the run's heartbeat and keeps progress events flowing."""

    def __init__(self, rd: RunDir, reporter: Reporter | None = None, interval: float = HEARTBEAT_S):
        self.rd = rd
        self.reporter = reporter
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{rd.id}", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.rd.beat()
                if self.reporter is not None:
                    self.reporter.repeat_if_quiet()
            except OSError:
                pass  # a full disk must not kill the run; readers see a stale heartbeat instead

    def __enter__(self) -> Heartbeat:
        self.rd.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
