"""Preflight: what a valid preset still needs from this machine, checked before anything is written.

`presets validate`, `plan`, `run` and the TUI's compose screen (validate, save, launch) call
`check(experiment)` after the spec itself is valid. It reads only files, the import system and
(when the Hub is needed) one TCP connection; it never imports torch. Each problem is one line that
names the field, the value and the way out, as a SpecError:

1. every model id resolves: a known `random:` name, an existing local directory with config.json,
   an existing GGUF file, an installed package; a Hub id needs its files in the local Hugging Face
   cache or a reachable Hub;
2. each corpus source has the options it needs (`hf`: dataset; `files`: path, an existing folder;
   `handbook`: the handbook installed);
3. the corpus has every calibration language (each part of a mix) and every evaluation language,
   where the source can tell without downloading (files, handbook, synthetic);
4. the calibration and evaluation seqlen fit the model's context where it is known (random shapes,
   config.json of a local directory or of the cache);
5. when the Hub is needed (a Hub model or an `hf` corpus not in the cache) and cannot be reached,
   the message says so and how to run offline.

Mixes are made canonical by the spec itself (`de+en` is `en+de`: one cell).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from langprune.engine.spec.errors import SpecError
from langprune.engine.spec.experiment import CorpusSpec, Experiment, ModelSpec

OFFLINE_MARK = "the Hub cannot be reached"
OFFLINE_FIX = (
    "to run offline, download it where there is network (`hf download ID`) into this machine's "
    "HF_HOME, or use a local directory, a GGUF file, a random: model or a files/handbook corpus"
)


@dataclass
class Findings:
    """What preflight found: `problems` stop the preset anywhere; `offline` (the Hub is needed
    and cannot be reached) stop a launch, and are warnings for a preview (validate, plan)."""

    problems: list[str] = field(default_factory=list)
    offline: list[str] = field(default_factory=list)


def check(experiment: Experiment, *, launch: bool = True) -> list[str]:
    """SpecError listing every problem preflight finds; with `launch` False (validate, plan) the
    Hub being unreachable is returned as warnings instead."""
    found = findings(experiment)
    problems = found.problems + (found.offline if launch else [])
    if problems:
        raise SpecError(problems)
    return found.offline


def findings(experiment: Experiment) -> Findings:
    out = Findings()
    problems = out.problems
    contexts: list[tuple[int, int | None]] = []
    for i, model in enumerate(experiment.models):
        problem, context = _model(model, f"models[{i}]")
        if problem:
            problems.append(problem)
        contexts.append((i, context))
    cal = experiment.calibration
    cal_langs = sorted({p for lang in cal.languages for p in lang.split("+")})
    ev = experiment.evaluation
    corpora: list[tuple[str, CorpusSpec, list[str]]] = [
        ("calibration.corpus", cal.corpus, cal_langs)
    ]
    if ev.corpus is not None:
        corpora.append(("evaluation.corpus", ev.corpus, list(ev.languages)))
    else:  # the calibration corpus gives the held-out text too
        corpora[0] = ("calibration.corpus", cal.corpus, sorted(set(cal_langs) | set(ev.languages)))
    for where, corpus, langs in corpora:
        problems.extend(_corpus(corpus, where, langs))
    for i, context in contexts:
        if context is None:
            continue
        for name, seqlen in (
            ("calibration.seqlen", cal.seqlen),
            ("evaluation.seqlen", ev.seqlen),
        ):
            if seqlen is not None and seqlen > context:
                problems.append(
                    f"{name}: {seqlen} is longer than the context of models[{i}] "
                    f"{experiment.models[i].id!r} ({context} tokens); use at most {context}"
                )
    out.offline = [p for p in dict.fromkeys(problems) if OFFLINE_MARK in p]
    out.problems = [p for p in dict.fromkeys(problems) if OFFLINE_MARK not in p]
    return out


# ---- models --------------------------------------------------------------------------------------


def _model(model: ModelSpec, where: str) -> tuple[str | None, int | None]:
    """(a problem or None, the model's context length when known)."""
    kind = model.kind
    if kind == "random":
        from langprune.engine.models.random_shapes import context_length, random_model_names

        name = model.id.removeprefix("random:")
        if name not in random_model_names():
            import difflib

            close = difflib.get_close_matches(name, random_model_names(), n=1)
            hint = f"; did you mean 'random:{close[0]}'?" if close else ""
            known = ", ".join(f"random:{n}" for n in random_model_names())
            return f"{where}.id: unknown random model {model.id!r}{hint} (known: {known})", None
        return None, context_length(name)
    if kind == "package":
        name = model.id.removeprefix("package:")
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return (
                f"{where}.id: python package {name!r} of model {model.id!r} is not installed "
                f"(install it with `pip install {name.replace('_', '-')}`)"
            ), None
        return None, None
    path = Path(model.id).expanduser()
    if kind == "gguf":
        if model.gguf_file and not path.is_dir() and not model.id.endswith(".gguf"):
            return _hub_model(model, where, model.gguf_file)  # a GGUF inside a Hub repo
        file = path / model.gguf_file if model.gguf_file else path
        if not file.is_file():
            return f"{where}: GGUF file {str(file)!r} does not exist", None
        return None, None
    if kind == "local":
        if not path.is_dir():
            return f"{where}.id: local model directory {model.id!r} does not exist", None
        if not (path / "config.json").is_file():
            return (
                f"{where}.id: local model directory {model.id!r} has no config.json "
                "(expected a save_pretrained folder)"
            ), None
        return None, _context_of(path / "config.json")
    if path.is_dir() and (path / "config.json").is_file():  # a relative local directory
        return None, _context_of(path / "config.json")
    return _hub_model(model, where, "config.json")


def _hub_model(model: ModelSpec, where: str, filename: str) -> tuple[str | None, int | None]:
    cached = _cached_file(model.id, filename, model.revision)
    if cached is not None:
        return None, _context_of(cached) if filename == "config.json" else None
    why = _hub_unreachable()
    if why is None:
        return None, None
    return (
        f"{where}.id: model {model.id!r} is not in the local Hugging Face cache and the Hub "
        f"cannot be reached ({why}); {OFFLINE_FIX.replace('ID', model.id)}"
    ), None


def _cached_file(repo: str, filename: str, revision: str | None) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo, filename, revision=revision)
    except Exception:  # an id the hub client refuses (bad characters): not cached
        return None
    return Path(found) if isinstance(found, str) else None


def _context_of(config_json: Path) -> int | None:
    try:
        data = json.loads(config_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    text = data.get("text_config") if isinstance(data.get("text_config"), dict) else data
    value = text.get("max_position_embeddings") if isinstance(text, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


@lru_cache(maxsize=1)
def _hub_unreachable() -> str | None:
    """Why the Hub cannot be reached from here, or None when it can."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{var}=1"
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    url = urlparse(endpoint)
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme != "http" else 80)
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as exc:
        return f"{host}: {exc.strerror or type(exc).__name__}"


# ---- corpora -------------------------------------------------------------------------------------


def _corpus(corpus: CorpusSpec, where: str, languages: list[str]) -> list[str]:
    from langprune.engine.data.corpora import CorpusError, get_corpus

    options = corpus.options
    if corpus.source == "hf":
        if options and "dataset" not in options:
            return [
                f"{where}.options: corpus source 'hf' needs the option 'dataset' "
                "(e.g. dataset = 'allenai/c4')"
            ]
        dataset = str(options.get("dataset", "allenai/c4"))
        if not _dataset_cached(dataset):
            why = _hub_unreachable()
            if why is not None:
                return [
                    f"{where}: dataset {dataset!r} is not in the local Hugging Face cache and the "
                    f"Hub cannot be reached ({why}); "
                    + OFFLINE_FIX.replace(
                        "`hf download ID`", f"`hf download --repo-type dataset {dataset}`"
                    )
                ]
        return []  # which languages a Hub dataset has is known only once it is read
    if corpus.source == "files" and not (options.get("path") or options.get("folder")):
        return [f"{where}.options: corpus source 'files' needs the option 'path' (a folder)"]
    try:
        source = get_corpus(corpus)
        have = source.languages()
    except CorpusError as exc:
        return [f"{where}: {exc.message}"]
    except OSError as exc:
        return [f"{where}: cannot read the corpus: {exc.strerror or exc}"]
    if have is None:
        return []
    missing = [lang for lang in languages if lang not in have]
    if not missing:
        return []
    shown = ", ".join(have[:30]) + (" ..." if len(have) > 30 else "")
    return [
        f"{where}: corpus {source.name!r} has no text in {', '.join(map(repr, missing))} "
        f"(it has: {shown or 'none'}); drop those languages or add them to the corpus"
    ]


def _dataset_cached(dataset: str) -> bool:
    """True when some copy of a Hub dataset is on this machine (hub cache or datasets cache)."""
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    hub = Path(os.environ.get("HF_HUB_CACHE") or home / "hub")
    sets = Path(os.environ.get("HF_DATASETS_CACHE") or home / "datasets")
    flat = dataset.replace("/", "--")
    return (hub / f"datasets--{flat}").is_dir() or any(
        p.is_dir() for p in (sets / dataset.replace("/", "___"), sets / flat)
    )
