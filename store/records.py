"""One typed reading of a run directory (no torch, no database): what every reader of runs uses.

`RunRecord` is the projection of spec.json + status.json (+ the last progress event) that the
store's ingest, `langprune status`, the TUI runs screen, the compose preview and the run filter
all read, so a field means the same thing everywhere:

- absent or ill-typed values are None (never a "-" string: display is the front end's business);
- `model` is the display name: the model's label, else the last part of its id without `random:`;
- `sparsity_fraction` is the share of weights pruned (`"2:4"` -> 0.5);
- `corpus` is the calibration corpus's source, with its dataset when there is one (`hf:wikitext`);
- `event` is the last progress event of a run that has started (None while queued); `stage`,
  `step`, `eta_s` and `tokens_per_s` come from it only while the run is running: a run that is not
  running shows its state as its stage;
- `progress` is 1 for a done run, else the last event's place in the stage spans (rundir), so a
  failed run shows how far it got;
- a run whose files cannot be read as written (rundir `damage`) is `damaged`, whatever its
  status.json says: `error` names the file and the reason, `fix` what to do.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from langprune.store.rundir import DAMAGED, FINAL_STATES, RunDir, damage_fix, progress_fraction
from langprune.vocab import STALLED_AFTER_S, WORKING_STATES, sparsity_fraction


class Status(TypedDict, total=False):
    """status.json as the worker and launcher write it (every key optional)."""

    state: str
    attempts: int
    queued_at: float
    running_at: float
    done_at: float
    failed_at: float
    cancelled_at: float
    updated_at: float
    seconds: dict[str, float]
    achieved_sparsity: float
    resume_stage: str
    host: str
    device: str
    pid: int
    worker: str
    job_id: str
    error: str
    versions: dict[str, str]
    fix: str
    owl: dict[str, Any] | None  # an *_owl run's allocation: m, lam, outlier_pct, layer_sparsity


class MetricRow(TypedDict, total=False):
    """One line of metrics.jsonl."""

    kind: str  # "perplexity" | "task"
    task: str
    subtask: str | None
    language: str | None
    metric: str
    value: float | None
    stderr: float | None
    n: int | None
    extra: dict[str, Any] | None


def as_float(value: Any) -> float | None:
    """A JSON number as a float; None for anything else (bools and NaN included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    out = float(value)
    return None if math.isnan(out) else out


def as_int(value: Any) -> int | None:
    """A JSON number as an int; None for anything else (bools included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def as_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def corpus_label(corpus: dict[str, Any] | None) -> str | None:
    """A short name for a calibration corpus: its source, and the dataset when there is one."""
    if not corpus:
        return None
    source = str(corpus.get("source", "?"))
    options = corpus.get("options") or {}
    name = options.get("dataset") or options.get("name")
    return f"{source}:{name}" if name else source


def model_name(model: dict[str, Any]) -> str:
    """The display name of a spec's model: its label, else its id's last part."""
    model_id = str(model.get("id", "?"))
    return str(model.get("label") or model_id.rsplit("/", 1)[-1].removeprefix("random:"))


@dataclass(frozen=True)
class RunRecord:
    """A run as its files describe it at one moment (see the module docstring)."""

    id: str
    spec: dict[str, Any]
    status: Status
    event: dict[str, Any] | None  # the last progress event; None while queued
    state: str
    experiment: str | None
    model: str
    model_id: str
    method: str | None
    sparsity: str | None
    sparsity_fraction: float | None
    calibration_language: str | None
    corpus: str | None
    nsamples: int | None
    seqlen: int | None
    seed: int | None
    stage: str | None
    step: str | None
    progress: float
    eta_s: float | None
    tokens_per_s: float | None
    host: str | None
    device: str | None
    error: str | None
    updated_at: float
    seconds_total: float | None
    achieved: float | None
    heartbeat_age: float | None = None
    fix: str | None = None  # what to do about a damaged run

    @property
    def active(self) -> bool:
        return self.state not in FINAL_STATES

    @property
    def fraction(self) -> float:
        return self.progress

    @property
    def label(self) -> str:
        """A run in a few words: model method sparsity calibration-language seed."""
        if not self.spec:
            return "?"
        if self.method == "dense":
            return f"{self.model} dense"
        return (
            f"{self.model} {self.method} {self.sparsity} "
            f"calib={self.calibration_language} seed={self.seed}"
        )

    @property
    def language(self) -> str | None:
        """The language the running stage works on (calibration or evaluation), if it has one."""
        if not self.event or self.state not in WORKING_STATES:
            return None
        return as_str(self.event.get("language"))

    @property
    def stage_text(self) -> str:
        """The running stage with its language and step ('eval_ppl de 3/7'), '' when not running;
        a stalled run says for how long its heartbeat has been silent."""
        if not self.event or self.state not in WORKING_STATES:
            return ""
        text = " ".join(part for part in (self.stage, self.language, self.step) if part)
        if self.state == "stalled":
            text = f"stalled: no heartbeat for {self.heartbeat_age or 0:.0f} s" + (
                f" (in {text})" if text else ""
            )
        return text


def from_files(
    run_id: str,
    spec: dict[str, Any] | None,
    status: dict[str, Any] | None,
    event: dict[str, Any] | None = None,
    *,
    heartbeat_age: float | None = None,
    damage: str | None = None,
    fix: str | None = None,
) -> RunRecord:
    """The record of already-read files (pure: no I/O). `damage` (rundir `RunDir.damage`) makes
    it a damaged run whatever `status` says. A running run whose `heartbeat_age` is past the
    stall bound (vocab.STALLED_AFTER_S) has the state "stalled"."""
    spec = spec or {}
    st = cast(Status, dict(status or {"state": "queued"}))  # None: a planned run (no dir yet)
    if damage is not None:
        st = cast(Status, {**st, "state": DAMAGED, "error": f"damaged: {damage}"})
    state = str(st.get("state", "queued"))
    if state == DAMAGED:
        fix = fix or st.get("fix")
    running = state == "running"
    if running and heartbeat_age is not None and heartbeat_age > stalled_after_s():
        state = "stalled"
    ev = event if state != "queued" else None
    live = ev if running else None
    model = spec.get("model") or {}
    seconds = st.get("seconds")
    sparsity = as_str(spec.get("sparsity"))
    step = None
    if live and live.get("total"):
        step = f"{live.get('step', 0)}/{live.get('total')}"
    return RunRecord(
        id=run_id,
        spec=spec,
        status=st,
        event=ev,
        state=state,
        experiment=as_str(spec.get("experiment")),
        model=model_name(model),
        model_id=str(model.get("id", "?")),
        method=as_str(spec.get("method")),
        sparsity=sparsity,
        sparsity_fraction=sparsity_fraction(sparsity),
        calibration_language=as_str(spec.get("calibration_language")),
        corpus=corpus_label(spec.get("corpus")),
        nsamples=as_int(spec.get("nsamples")),
        seqlen=as_int(spec.get("seqlen")),
        seed=as_int(spec.get("seed")),
        stage=as_str((live or {}).get("stage")) if running else state,
        step=step,
        progress=1.0 if state == "done" else progress_fraction(ev),
        eta_s=as_float((live or {}).get("eta_s")),
        tokens_per_s=as_float((live or {}).get("tokens_per_s")),
        host=as_str(st.get("host")),
        device=as_str(st.get("device")),
        error=as_str(st.get("error")),
        updated_at=as_float(st.get("updated_at")) or as_float(st.get("queued_at")) or 0.0,
        seconds_total=as_float(seconds.get("total")) if isinstance(seconds, dict) else None,
        achieved=as_float(st.get("achieved_sparsity")),
        heartbeat_age=heartbeat_age,
        fix=fix,
    )


def stalled_after_s() -> float:
    """The stall bound: $LANGPRUNE_STALLED_AFTER_S seconds, else vocab.STALLED_AFTER_S."""
    try:
        return float(os.environ.get("LANGPRUNE_STALLED_AFTER_S") or STALLED_AFTER_S)
    except ValueError:
        return STALLED_AFTER_S


def read(rd: RunDir, spec: dict[str, Any] | None = None) -> RunRecord:
    """Read one run directory (pass `spec` when it is cached: it never changes)."""
    status = rd.status()
    damage = rd.damage(status)
    started = status.get("state") not in ("queued", DAMAGED)
    return from_files(
        rd.id,
        (rd.read_spec() if spec is None else spec) if damage is None else rd.read_spec(),
        status,
        rd.last_event() if started and damage is None else None,
        heartbeat_age=rd.heartbeat_age(),
        damage=damage,
        fix=damage_fix(rd) if damage is not None else None,
    )
