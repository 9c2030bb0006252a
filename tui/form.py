"""The compose form as plain data: form values -> experiment dict -> problems per field.

No Textual here, so the mapping from what the user typed to what the CLI validates is testable on
its own. Values go to pydantic as typed (a seed 'x' stays the string 'x'); `presets.from_dict`
validates, and `plain` words each of its problems for the form ("pick at least one method" for
pydantic's "List should have at least 1 item"). `grid_sentence` counts the grid as the engine
expands it (a calibration-free method once per model and sparsity).
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
    "corpus_options": ("calibration.corpus.options",),
    "dtype": ("models.dtype",),
    "device": ("models.device",),
    "eval_languages": ("evaluation.languages",),
    "max_tokens": ("evaluation.max_tokens",),
    "eval_seqlen": ("evaluation.seqlen",),
    "batch_size": ("evaluation.batch_size",),
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


PER_MODEL = "(per model)"  # dtype/device: the models of a preset differ; each keeps its own
DTYPES = ("auto", "bfloat16", "float16", "float32")
DEVICES = ("auto", "cuda", "cpu")


def default_corpus() -> str:
    """The corpus a new grid starts with: one that works offline. The Debian handbook (the
    demo's corpus, parallel text in the paper's languages but sw) when it is installed, else the
    generated synthetic text; never `hf`, which needs the Hugging Face Hub."""
    from langprune.engine.data.handbook import handbook_present

    return "handbook" if handbook_present() else "synthetic"


@dataclass
class FormValues:
    """Everything the compose screen collects, as the user entered it."""

    name: str = "tui-experiment"
    description: str = ""
    models: list[str] = field(default_factory=list)
    dtype: str = "auto"  # for every model; PER_MODEL keeps each model's own
    device: str = "auto"
    methods: list[str] = field(default_factory=list)
    sparsity: str = ""
    languages: list[str] = field(default_factory=list)  # ticked in the grid
    mixes: str = ""  # extra codes or mixes typed, e.g. "en+de fr"
    seeds: str = "0"
    corpus: str = "synthetic"
    corpus_options: str = ""  # "path=/data/corpus heldout_fraction=0.1"
    nsamples: str = "128"
    seqlen: str = "2048"
    eval_languages: str = ""
    max_tokens: str = "131072"
    eval_seqlen: str = ""  # blank: the calibration seqlen
    batch_size: str = "4"
    tasks: list[str] = field(default_factory=list)
    executor: str = "local"
    gpus: str = "all"
    # everything a preset carried that the form does not edit (analysis, slurm, task options, ...)
    base: dict[str, Any] = field(default_factory=dict)

    def all_languages(self) -> list[str]:
        return [*self.languages, *[m for m in split_list(self.mixes) if m not in self.languages]]


def _option_value(token: str) -> Any:
    if token.lower() in ("true", "false"):
        return token.lower() == "true"
    return _number(token)


def parse_options(text: str) -> dict[str, Any]:
    """'path=/data/c heldout_fraction=0.1' -> {'path': '/data/c', 'heldout_fraction': 0.1}.

    A token without '=' becomes a key with an empty value, which the corpus then refuses by name."""
    out: dict[str, Any] = {}
    for token in text.split():
        key, _, value = token.partition("=")
        out[key] = _option_value(value)
    return out


def format_options(options: dict[str, Any]) -> str:
    """The inverse of parse_options for scalar values (lists and tables stay in the TOML)."""
    parts = []
    for k, v in options.items():
        if isinstance(v, bool):
            parts.append(f"{k}={'true' if v else 'false'}")
        elif isinstance(v, (int, float, str)):
            parts.append(f"{k}={v}")
    return " ".join(parts)


def _whole(text: str, default: Any) -> Any:
    text = text.strip()
    return default if not text else _number(text)


def to_dict(v: FormValues) -> dict[str, Any]:
    """The experiment dict a preset TOML would hold for these values."""
    base = v.base
    old_models = {m.get("id"): m for m in base.get("models", []) if isinstance(m, dict)}
    models = []
    for mid in v.models:
        model = dict(old_models.get(mid, {"id": mid}))
        for key, value in (("dtype", v.dtype), ("device", v.device)):
            if value == PER_MODEL:
                continue
            if value == "auto":
                model.pop(key, None)
            else:
                model[key] = value
        models.append(model)
    cal_base = dict(base.get("calibration", {}))
    old_corpus = dict(cal_base.get("corpus", {}))
    old_options = old_corpus.get("options", {}) if old_corpus.get("source") == v.corpus else {}
    kept = {k: o for k, o in old_options.items() if not isinstance(o, (bool, int, float, str))}
    options = {**kept, **parse_options(v.corpus_options)}
    corpus: dict[str, Any] = {"source": v.corpus}
    if options:
        corpus["options"] = options
    ev = dict(base.get("evaluation", {}))
    ev["languages"] = split_list(v.eval_languages)
    ev["max_tokens"] = _whole(v.max_tokens, 131072)
    ev["batch_size"] = _whole(v.batch_size, 4)
    if v.eval_seqlen.strip():
        ev["seqlen"] = _number(v.eval_seqlen.strip())
    else:
        ev.pop("seqlen", None)
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
        "models": models,
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
    for key in ("analysis", "dense_baseline"):  # tables the form has no fields for
        if key in base:
            data[key] = base[key]
    return data


def _shared(models: list[dict[str, Any]], key: str) -> str:
    values = {str(m.get(key, "auto")) for m in models}
    return values.pop() if len(values) == 1 else (PER_MODEL if values else "auto")


def from_experiment(data: dict[str, Any]) -> FormValues:
    """Form values from a preset's data (as read from its TOML)."""
    cal = data.get("calibration", {})
    ev = data.get("evaluation", {})
    run = data.get("runner", {})
    langs = [str(x) for x in cal.get("languages", [])]
    gpus = run.get("gpus", "all")
    models = [m for m in data.get("models", []) if isinstance(m, dict)]
    corpus = cal.get("corpus", {})
    return FormValues(
        name=str(data.get("name", "")),
        description=str(data.get("description", "")),
        models=[str(m.get("id")) for m in models],
        dtype=_shared(models, "dtype"),
        device=_shared(models, "device"),
        methods=[str(m) for m in data.get("pruning", {}).get("methods", [])],
        sparsity=", ".join(str(s) for s in data.get("pruning", {}).get("sparsity", [])),
        languages=[x for x in langs if not is_mix(x)],
        mixes=" ".join(x for x in langs if is_mix(x)),
        seeds=", ".join(str(s) for s in cal.get("seeds", [0])),
        corpus=str(corpus.get("source", "hf")),
        corpus_options=format_options(corpus.get("options", {})),
        nsamples=str(cal.get("nsamples", 128)),
        seqlen=str(cal.get("seqlen", 2048)),
        eval_languages=", ".join(str(x) for x in ev.get("languages", [])),
        max_tokens=str(ev.get("max_tokens", 131072)),
        eval_seqlen="" if ev.get("seqlen") is None else str(ev["seqlen"]),
        batch_size=str(ev.get("batch_size", 4)),
        tasks=[str(t.get("family")) for t in ev.get("tasks", []) if isinstance(t, dict)],
        executor=str(run.get("executor", "local")),
        gpus="all" if gpus == "all" else ", ".join(str(g) for g in gpus),
        base=data,
    )


def field_of(problem: str) -> str | None:
    """The form field a CLI problem line belongs to ('calibration.seeds[1]: ...' -> 'seeds')."""
    path = re.sub(r"\[\d+\]", "", problem.split(":", 1)[0].strip())
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
    """(experiment, []) or (None, problems in the CLI's words): the spec, then preflight (what
    the grid needs from this machine), as `presets validate` does."""
    from langprune.engine.spec import preflight, presets

    try:
        exp = presets.from_dict(data, "compose", base=base_dir)
        preflight.check(exp, launch=False)
        return exp, []
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


# ---- plain words ----

# form field -> (what to pick, the label the form shows)
_NOUNS: dict[str, tuple[str, str]] = {
    "name": ("", "name"),
    "models": ("at least one model (tick one, or type an id in 'add a model')", "models"),
    "methods": ("at least one method", "methods"),
    "sparsity": ("at least one sparsity (e.g. 0.5 or 2:4)", "sparsities"),
    "languages": ("at least one calibration language", "calibration languages"),
    "seeds": ("at least one seed (e.g. 0)", "seeds"),
    "nsamples": ("", "nsamples"),
    "seqlen": ("", "seqlen"),
    "max_tokens": ("", "max tokens"),
    "eval_seqlen": ("", "eval seqlen"),
    "batch_size": ("", "batch size"),
    "gpus": ("", "GPUs"),
}
_GOT = re.compile(r" \(got (.*)\)$")


def plain(problem: str) -> str | None:
    """A problem line in the form's words, or None when another line already says it.

    The field is named as the form labels it; pydantic's phrases become what to do:
    "List should have at least 1 item" -> "pick at least one method", "Input should be a valid
    integer (got 'x')" -> "'x' is not a whole number", "greater than 0" -> "must be more than 0".
    Lines the spec words itself (unknown language with a did-you-mean, duplicates) keep their text.
    """
    path, _, msg = problem.partition(":")
    msg = msg.strip()
    key = field_of(problem)
    noun, label = _NOUNS.get(key or "", ("", path.strip()))
    got_match = _GOT.search(msg)
    got = got_match.group(1) if got_match else None
    bare = _GOT.sub("", msg)
    if key == "gpus" and bare.startswith("Input should be 'all'"):
        return None  # the other branch of `list[int] | "all"`: the per-item line says it
    if key == "name" and "at least 1 character" in bare:
        return "name: give the experiment a name"
    if "at least 1 item" in bare or "at least 1 character" in bare:
        return f"{label}: pick {noun}" if noun else f"{label}: must not be empty"
    if bare.startswith("Input should be a valid integer"):
        return f"{label}: {got or 'this'} is not a whole number (e.g. 0, 1, 42)"
    if bare.startswith("Input should be greater than 0"):
        return f"{label}: must be more than 0"
    if bare.startswith("Input should be greater than or equal to 0"):
        return f"{label}: must be 0 or more"
    if bare.startswith("Input should be a valid"):
        return f"{label}: {got or 'this'} is not a valid value"
    return f"{label}: {msg}"


def plain_problems(problems: list[str]) -> list[str]:
    """Every problem in plain words, each once, in order."""
    out = [p for p in (plain(x) for x in problems) if p is not None]
    return list(dict.fromkeys(out))


# ---- the grid as a product ----


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def grid_sentence(exp: Experiment) -> str:
    """How many runs the grid is, as the engine expands it (`Experiment.runs`):

    "1 model x 3 methods x 2 sparsities x 4 languages x 2 seeds + 1 dense = 49". A method that
    reads no calibration text (magnitude) is one run per model and sparsity, so it is its own
    term: "... + 1 model x magnitude x 2 sparsities + 1 dense = 37".
    """
    from langprune.cellid import uses_calibration

    models = len(exp.models)
    calibrated = [m for m in exp.pruning.methods if uses_calibration(m)]
    free = [m for m in exp.pruning.methods if not uses_calibration(m)]
    sparsities = _count(len(exp.pruning.sparsity), "sparsity", "sparsities")
    terms = []
    if calibrated:
        terms.append(
            " x ".join(
                [
                    _count(models, "model"),
                    _count(len(calibrated), "method"),
                    sparsities,
                    _count(len(exp.calibration.languages), "language"),
                    _count(len(exp.calibration.seeds), "seed"),
                ]
            )
        )
    if free:
        methods = free[0] if len(free) == 1 else _count(len(free), "method")
        terms.append(f"{_count(models, 'model')} x {methods} x {sparsities} (no calibration)")
    if exp.dense_baseline:
        terms.append(f"{models} dense")
    return " + ".join(terms) + f" = {len(exp.runs())}"
