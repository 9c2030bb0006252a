"""Evaluations added to a cell that is already pruned: what a new run takes from earlier runs.

A pruned cell (`langprune.cellid`) is one thing however many presets evaluate it. When a run
starts from scratch and some *done* run of the workspace has the same cell id (a preset that asks
for more evaluation languages or tasks on the same grid, say), the new run
  1. copies every metric row of those runs that was measured exactly as it would measure it, each
     marked `extra.reused_from = <run id>`:
       - perplexity rows (ppl, bpb, nll) of a language it evaluates, with the same corpus name,
         protocol, seqlen and max_tokens and the same held-out text (`extra.text_digest`, a
         digest of the documents evaluated; rows written before digests existed are never reused);
       - task rows of an lm-eval task it plans (same lm-eval name, num_fewshot and limit), when
         the lm-eval version recorded by that run is the one installed;
  2. evaluates only what is left;
  3. needs pruned weights only when something is left to evaluate, or analyses are asked for that
     the earlier run did not compute the same way (same [analysis] options and, for neurons and
     drift, the same evaluation languages and corpus; then its masks and analysis rows are copied).
     Then it prunes again (a done run keeps no weights: `pruned.pt` only lives while a run is
     resumable); a cell's calibration draw and method are deterministic, so the weights are the
     same. When nothing needs them, calibration and pruning are skipped.
Nothing here guesses: a row that cannot be shown to be the same measurement is measured again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langprune.cellid import cell_id
from langprune.store.masks import MASK_FILE
from langprune.store.rundir import RunDir, iter_run_dirs


def text_digest(documents: Sequence[str]) -> str:
    """sha256 (16 hex) of the documents a perplexity row was measured on, in order."""
    h = hashlib.sha256()
    for doc in documents:
        h.update(hashlib.sha256(doc.encode()).digest())
    return h.hexdigest()[:16]


@dataclass
class Donors:
    """The done runs of one cell, other than the run itself (most recently done first)."""

    runs: list[RunDir] = field(default_factory=list)

    @classmethod
    def of(cls, rd: RunDir, cell: str) -> Donors:
        found = []
        for other in iter_run_dirs(rd.path.parent):
            if other.path.name == rd.path.name or other.state() != "done":
                continue
            spec = other.read_spec()
            if spec and cell_id(spec) == cell:
                found.append(other)
        found.sort(key=lambda r: float(r.status().get("done_at") or 0.0), reverse=True)
        return cls(found)

    def __bool__(self) -> bool:
        return bool(self.runs)

    def perplexity_rows(  # the rows of an earlier identical perplexity measurement, or []
        self, language: str, corpus: str, seqlen: int, max_tokens: int, version: str, digest: str
    ) -> list[dict[str, Any]]:
        """`version`: the perplexity protocol's version (the rows' protocol text starts with it)."""
        for donor in self.runs:
            rows = [
                r
                for r in donor.read_metrics()
                if r.get("kind") == "perplexity"
                and r.get("language") == language
                and r.get("subtask") == corpus
                and _same(r.get("extra"), seqlen=seqlen, max_tokens=max_tokens)
                and _same(r.get("extra"), text_digest=digest)
                and str((r.get("extra") or {}).get("protocol", "")).startswith(f"{version}:")
            ]
            if rows:
                return [_mark(r, donor) for r in rows]
        return []

    def task_rows(
        self, name: str, num_fewshot: int, limit: float | None, lm_eval: str | None
    ) -> list[dict[str, Any]]:
        """The rows of an earlier identical lm-eval task run, or [] if there is none."""
        for donor in self.runs:
            versions = donor.status().get("versions") or {}
            if lm_eval is None or versions.get("lm_eval") != lm_eval:
                continue
            rows = [
                r
                for r in donor.read_metrics()
                if r.get("kind") == "task"
                and r.get("subtask") == name
                and _same(r.get("extra"), num_fewshot=num_fewshot, limit=limit)
            ]
            if rows:
                return [_mark(r, donor) for r in rows]
        return []

    def analysis_from(self, spec: dict[str, Any], reads_text: bool) -> RunDir | None:
        """An earlier run whose analyses are the ones `spec` asks for, computed the same way
        (`reads_text`: they read the evaluation text, which must then be the same too)."""
        wanted = spec.get("analysis")
        for donor in self.runs:
            theirs = donor.read_spec() or {}
            if theirs.get("analysis") != wanted or donor.status().get("resume_stage") != "analysis":
                continue
            if not reads_text or _evaluation_text(theirs) == _evaluation_text(spec):
                return donor
        return None


def copy_analysis(donor: RunDir, rd: RunDir) -> None:
    """Take the masks and analysis rows of an earlier run of the same cell."""
    if (donor.path / MASK_FILE).is_file():
        rd.write_masks((donor.path / MASK_FILE).read_bytes())
    rd.write_analysis(donor.read_analysis())


def _evaluation_text(spec: dict[str, Any]) -> Any:
    """What the neuron and drift analyses read besides the weights: the evaluated text."""
    ev = spec.get("evaluation") or {}
    return (ev.get("corpus"), sorted(ev.get("languages") or []))


def _same(extra: Any, **expected: Any) -> bool:
    return isinstance(extra, dict) and all(
        k in extra and extra[k] == v for k, v in expected.items()
    )


def _mark(row: dict[str, Any], donor: RunDir) -> dict[str, Any]:
    return {**row, "extra": {**(row.get("extra") or {}), "reused_from": donor.path.name}}
