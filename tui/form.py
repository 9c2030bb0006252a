"""The compose form as plain data: form values -> experiment dict -> problems per field.

No Textual here, so the mapping from what the user typed to what the CLI validates is testable on
its own. Values go to pydantic as typed (a seed 'x' stays the string 'x'), so every message is the
CLI's own words from `presets.from_dict`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langprune.engine.spec.errors import SpecError
from langprune.engine.spec.experiment import Experiment
from langprune.engine.spec.tasks import TASK_FAMILIES
from langprune.vocab import is_mix

# Field keys of the form, each with the spec paths whose problems it shows (longest prefix wins).
FIELD_PATHS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "models": ("models",),
    "methods": ("pruning.methods",),
    "sparsity": ("pruning.sparsity", "pruning"),
    "languages": ("calibration.languages",),
    "seeds": ("calibration.seeds",),
    "corpus": ("calibration.corpus",),
    "nsamples": ("calibration.nsamples",),
    "seqlen": ("calibration.seqlen",),
    "eval_languages": ("evaluation.languages",),
    "tasks": ("evaluation.tasks",),
    "executor": ("runner.executor",),
    "gpus": ("runner.gpus", "runner"),
}


def split_list(text: str) -> list[str]:
    """'en, de  fr' -> ['en', 'de', 'fr'] (commas or spaces)."""
    return [t for t in re.split(r"[,\s]+", text.strip()) if t]


def _number(token: str) -> Any:
    """An int or float when the token is one, else the token itself (for pydantic to refuse)."""
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token)
    except ValueError:
        return token


@dataclass
class FormValues:
    """Everything the compose screen collects, as the user entered it."""

    name: str = "tui-experiment"
    description: str = ""
    models: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    sparsity: str = ""
    languages: list[str] = field(default_factory=list)  # ticked in the grid
    mixes: str = ""  # extra codes or mixes typed, e.g. "en+de fr"
    seeds: str = "0"
    corpus: str = "hf"
    nsamples: str = "128"
    seqlen: str = "2048"
    eval_languages: str = ""
    tasks: list[str] = field(default_factory=list)
    executor: str = "local"
    gpus: str = "all"
    # everything a preset carried that the form does not edit (model options, eval settings, ...)
    base: dict[str, Any] = field(default_factory=dict)

    def all_languages(self) -> list[str]:
        return [*self.languages, *[m for m in split_list(self.mixes) if m not in self.languages]]


def to_dict(v: FormValues) -> dict[str, Any]:
    """The experiment dict a preset TOML would hold for these values."""
    base = v.base
    old_models = {m.get("id"): m for m in base.get("models", []) if isinstance(m, dict)}
    cal_base = dict(base.get("calibration", {}))
    corpus = dict(cal_base.get("corpus", {}))
    if corpus.get("source") != v.corpus:
        corpus = {"source": v.corpus}
    ev = dict(base.get("evaluation", {}))
    ev["languages"] = split_list(v.eval_languages)
    old_tasks = {t.get("family"): t for t in ev.get("tasks", []) if isinstance(t, dict)}
    ev["tasks"] = [old_tasks.get(f, {"family": f}) for f in v.tasks]
    if not ev["tasks"]:
        ev.pop("tasks")
    runner = dict(base.get("runner", {}))
    runner["executor"] = v.executor
    gpus = v.gpus.strip()
    runner["gpus"] = "all" if gpus in ("", "all") else [_number(g) for g in split_list(gpus)]
    data: dict[str, Any] = {
        "name": v.name.strip(),
        "description": v.description,
        "models": [old_models.get(m, {"id": m}) for m in v.models],
        "pruning": {
            **base.get("pruning", {}),  # the preset's owl / ria options stay
            "methods": list(v.methods),
            "sparsity": [_number(s) for s in split_list(v.sparsity)],
        },
        "calibration": {
            **cal_base,
            "languages": v.all_languages(),
            "corpus": corpus,
            "nsamples": _number(v.nsamples.strip()),
            "seqlen": _number(v.seqlen.strip()),
            "seeds": [_number(s) for s in split_list(v.seeds)],
        },
        "evaluation": ev,
        "runner": runner,
    }
    if "dense_baseline" in base:
        data["dense_baseline"] = base["dense_baseline"]
    return data


def from_experiment(data: dict[str, Any]) -> FormValues:
    """Form values from a preset's data (as read from its TOML)."""
    cal = data.get("calibration", {})
    ev = data.get("evaluation", {})
    run = data.get("runner", {})
    langs = [str(x) for x in cal.get("languages", [])]
    gpus = run.get("gpus", "all")
    return FormValues(
        name=str(data.get("name", "")),
        description=str(data.get("description", "")),
        models=[str(m.get("id")) for m in data.get("models", []) if isinstance(m, dict)],
        methods=[str(m) for m in data.get("pruning", {}).get("methods", [])],
        sparsity=", ".join(str(s) for s in data.get("pruning", {}).get("sparsity", [])),
        languages=[x for x in langs if not is_mix(x)],
        mixes=" ".join(x for x in langs if is_mix(x)),
        seeds=", ".join(str(s) for s in cal.get("seeds", [0])),
        corpus=str(cal.get("corpus", {}).get("source", "hf")),
        nsamples=str(cal.get("nsamples", 128)),
        seqlen=str(cal.get("seqlen", 2048)),
        eval_languages=", ".join(str(x) for x in ev.get("languages", [])),
        tasks=[str(t.get("family")) for t in ev.get("tasks", []) if isinstance(t, dict)],
        executor=str(run.get("executor", "local")),
        gpus="all" if gpus == "all" else ", ".join(str(g) for g in gpus),
        base=data,
    )


def field_of(problem: str) -> str | None:
    """The form field a CLI problem line belongs to ('calibration.seeds[1]: ...' -> 'seeds')."""
    path = problem.split(":", 1)[0].strip()
    best, best_len = None, -1
    for key, prefixes in FIELD_PATHS.items():
        for prefix in prefixes:
            if (path == prefix or path.startswith((prefix + ".", prefix + "["))) and len(
                prefix
            ) > best_len:
                best, best_len = key, len(prefix)
    return best


def validate(
    data: dict[str, Any], base_dir: Path | None = None
) -> tuple[Experiment | None, list[str]]:
    """(experiment, []) or (None, problems in the CLI's words)."""
    from langprune.engine.spec import presets

    try:
        return presets.from_dict(data, "compose", base=base_dir), []
    except SpecError as exc:
        return None, list(exc.problems)


def problems_by_field(problems: list[str]) -> dict[str | None, list[str]]:
    out: dict[str | None, list[str]] = {}
    for p in problems:
        out.setdefault(field_of(p), []).append(p)
    return out


def families_for(languages: list[str]) -> dict[str, list[str]]:
    """Task families that exist for at least one of the languages -> the languages they cover."""
    out = {}
    for family, table in TASK_FAMILIES.items():
        covered = [lang for lang in languages if lang in table]
        if covered:
            out[family] = covered
    return out
