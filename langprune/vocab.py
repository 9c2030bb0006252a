"""The shared words of langprune: sparsity, calibration mixes, model names, methods, states, stages.

This module imports nothing of ours, so every layer (spec, engine, store, tui, cli) can use it
without an arrow between them. Each concept has one definition here and no second parser:

* ``Sparsity.parse`` accepts a ratio (``0.5``, ``"0.5"``, ``"50%"``) or an N:M pattern (``"2:4"``)
  and refuses everything else with ``ValueError`` naming the value and the accepted forms (a
  ``ValueError`` so pydantic validators turn it into a field error). ``str(Sparsity)`` is the
  canonical string stored in spec.json and hashed into run ids: ``repr(float)`` of the ratio
  (``"0.5"``) or ``"N:M"`` without spaces. It must never change, or run ids change.
* A calibration mix is languages joined by ``+`` (``"en+de"``); ``mix_parts`` splits one, a
  single language being a mix of one.
* ``model_display_name`` is how a model is named in tables: its label, else the last path part of
  its id without the ``random:`` prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The pruning methods, in registration order (engine/prune/methods.py). "<base>_owl" is the base
# method with OWL's outlier-weighted sparsity per layer (unstructured only).
METHODS: tuple[str, ...] = (
    "magnitude", "wanda", "sparsegpt", "ria", "magnitude_owl", "wanda_owl", "sparsegpt_owl",
)  # fmt: skip
OWL_METHODS: tuple[str, ...] = tuple(m for m in METHODS if m.endswith("_owl"))
DENSE = "dense"
# "damaged": a run whose files cannot be read as written (an unreadable directory, a truncated or
# garbled status.json, spec.json or metrics.jsonl). It is read, never written; nothing schedules,
# cancels or waits for it (a final state) until a person repairs it or `langprune retry`s it.
DAMAGED = "damaged"
STATES: tuple[str, ...] = ("queued", "running", "stalled", "done", "failed", "cancelled", DAMAGED)
FINAL_STATES: tuple[str, ...] = ("done", "failed", "cancelled", DAMAGED)
# A run whose worker still holds it but whose heartbeat is older than STALLED_AFTER_S (a stopped
# process, a stuck NFS read, a wedged GPU) is shown "stalled" with the seconds since its last
# heartbeat. status.json never says "stalled": readers derive it (store/records.py). The worker
# touches its heartbeat every 2 s; $LANGPRUNE_STALLED_AFTER_S changes the bound.
STALLED_AFTER_S = 60.0
WORKING_STATES: tuple[str, ...] = ("running", "stalled")
# The stages of one run, in order (the pipeline runs them in this order; progress events name them).
STAGES: tuple[str, ...] = (
    "load", "calibration", "prune", "eval_ppl", "eval_tasks", "analysis", "done",
)  # fmt: skip

MIX_SEPARATOR = "+"
_NM = re.compile(r"^(\d+)\s*:\s*(\d+)$")
_FORMS = "expected a ratio like 0.5, a percentage like '50%' or 'N:M' like '2:4'"


@dataclass(frozen=True)
class Sparsity:
    """A sparsity request: ``fraction`` of weights removed; ``n`` of every ``m`` inputs for N:M.

    Build it with ``Sparsity.parse``; ``n == m == 0`` for an unstructured ratio.
    """

    fraction: float
    n: int = 0
    m: int = 0

    @property
    def is_nm(self) -> bool:
        """True for an N:M pattern (``"2:4"``), False for an unstructured ratio."""
        return self.m > 0

    @classmethod
    def parse(cls, value: object) -> Sparsity:
        """A Sparsity from 0.5, "0.5", "50%", "2:4" (or a Sparsity); ValueError for anything else."""
        if isinstance(value, Sparsity):
            return value
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a sparsity ({_FORMS})")
        if isinstance(value, (int, float)):
            return cls._ratio(value, value)
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a sparsity ({_FORMS})")
        text = value.strip()
        nm = _NM.match(text)
        if nm:
            n, m = int(nm.group(1)), int(nm.group(2))
            if not 0 < n < m:
                raise ValueError(
                    f"{value!r} is not a valid N:M pattern: it needs 0 < N < M, e.g. '2:4'"
                )
            return cls(n / m, n, m)
        try:
            number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a sparsity ({_FORMS})") from None
        return cls._ratio(number, value)

    @classmethod
    def _ratio(cls, number: float, original: object) -> Sparsity:
        if not 0 < number < 1:
            raise ValueError(
                f"{original!r} is out of range: an unstructured sparsity is a ratio strictly "
                "between 0 and 1, e.g. 0.5"
            )
        return cls(float(number))

    def __str__(self) -> str:
        return f"{self.n}:{self.m}" if self.is_nm else repr(self.fraction)


def canonical_sparsity(value: object) -> str:
    """The canonical string of a sparsity (``"0.5"``, ``"2:4"``); ValueError if it is not one."""
    return str(Sparsity.parse(value))


def sparsity_fraction(value: object) -> float | None:
    """The fraction a sparsity removes ("2:4" -> 0.5); None for None, "", "-" or an unreadable value."""
    if value is None or value in ("", "-"):
        return None
    try:
        return Sparsity.parse(value).fraction
    except ValueError:
        return None


def mix_parts(language: str) -> list[str]:
    """The languages of a calibration mix, in order: "en+de" -> ["en", "de"]; "de" -> ["de"]."""
    return language.split(MIX_SEPARATOR)


def is_mix(language: str) -> bool:
    """True when a calibration language names more than one language ("en+de")."""
    return MIX_SEPARATOR in language


def model_display_name(model: Mapping[str, Any]) -> str:
    """A model's name in tables: its label, else the last part of its id without 'random:'."""
    label = model.get("label")
    if label:
        return str(label)
    return str(model.get("id", "?")).rsplit("/", 1)[-1].removeprefix("random:")
