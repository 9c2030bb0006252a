"""Downstream tasks through lm-evaluation-harness on the in-memory (pruned) model (torch side).

The model object itself goes to `HFLM(pretrained=model, tokenizer=...)`: nothing is saved to disk,
so what lm-eval scores is exactly the weights in memory at call time. lm-eval's request and
response caches are never used (a cache keyed by task could hand one variant's answers to another).

Task lookup: the YAML files shipped in `presets/tasks/` plus `task_paths` are always indexed (fast);
lm-eval's ~14k built-in tasks are indexed only when a requested family is not defined locally.
Relative `data_files` in local YAMLs are resolved against the YAML's own folder, not the working
directory (lm-eval's default), without changing the working directory.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from langprune.engine.spec.experiment import TaskSpec
from langprune.engine.spec.lang_names import language_of_task
from langprune.engine.spec.tasks import TASK_FAMILIES, task_search_paths

log = logging.getLogger(__name__)

DEFAULT_BOOTSTRAP_ITERS = 1000  # stderr of non-mean metrics; lm-eval's 100k is slow on CPU


@dataclass(frozen=True)
class PlannedTask:
    """One lm-eval task or group to run, for one language of one family."""

    family: str
    language: str | None
    name: str
    num_fewshot: int
    limit: int | float | None
    batch_size: int | str


# ------------------------------------------------------------------------------ task manager


def _absolutize_data_files(cfg: dict[str, Any], base: Path) -> None:
    """Rewrite relative data_files / data_dir in dataset_kwargs against `base` when they exist there."""
    kwargs = cfg.get("dataset_kwargs")
    if not isinstance(kwargs, dict):
        return

    def fix(value: Any) -> Any:
        if isinstance(value, str):
            p = Path(value).expanduser()
            return str(base / p) if not p.is_absolute() and (base / p).exists() else value
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    kwargs = dict(kwargs)
    for key in ("data_files", "data_dir"):
        if key in kwargs:
            kwargs[key] = fix(kwargs[key])
    cfg["dataset_kwargs"] = kwargs


@lru_cache(maxsize=4)
def task_manager(paths: tuple[str, ...], include_defaults: bool) -> Any:
    """An lm-eval TaskManager over `paths` (+ built-ins if asked), cached per process."""
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._factory import TaskFactory

    tm = TaskManager(include_defaults=include_defaults, include_path=list(paths))
    local_roots = [Path(p) for p in paths]

    class LocalDataFactory(TaskFactory):
        """Resolves local YAMLs' relative data files against the YAML's folder."""

        def _load_full_config(self, entry: Any, overrides: dict[str, Any] | None = None) -> Any:
            cfg = super()._load_full_config(entry, overrides)
            path = getattr(entry, "yaml_path", None)
            if path is not None and any(Path(path).is_relative_to(r) for r in local_roots):
                _absolutize_data_files(cfg, Path(path).parent)
            return cfg

    # TaskManager has no public hook for this; check the private attribute we replace still exists
    if isinstance(getattr(tm, "_factory", None), TaskFactory):
        tm._factory = LocalDataFactory(meta=tm.metadata)
    else:  # pragma: no cover - depends on the lm-eval version
        log.warning("lm-eval internals changed: local data_files resolve against the cwd")
    return tm


# ------------------------------------------------------------------------------ planning


def _entry_language(entry: Any) -> str | None:
    """A local task's language: `metadata.language` in its YAML, else from its name."""
    cfg = getattr(entry, "cfg", None) or {}
    meta = cfg.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("language"), str):
        return meta["language"]
    return language_of_task(entry.name)


def _leaves(tm: Any, name: str) -> list[str]:
    """Leaf task names of a local task, group or tag (one level of nesting per call)."""
    from lm_eval.tasks._index import Kind

    entry = tm.task_index[name]
    if entry.kind == Kind.TAG:
        return sorted(entry.tags)
    if entry.kind == Kind.GROUP:
        out: list[str] = []
        for item in entry.cfg.get("task", []):
            child = item if isinstance(item, str) else item.get("task") or item.get("group")
            if isinstance(child, str) and child in tm.task_index:
                out.extend(_leaves(tm, child))
        return out
    return [name]


def plan_tasks(
    tasks: Sequence[TaskSpec],
    *,
    task_paths: Sequence[str | Path] = (),
    batch_size: int | str | None = None,
) -> tuple[list[PlannedTask], bool]:
    """Expand task specs into lm-eval names per language; also say whether built-ins are needed.

    Local families (defined in presets/tasks or task_paths) win over the built-in table. A local
    group is split into its leaf tasks, filtered by the spec's languages (all when none given).
    """
    local = task_manager(task_search_paths(task_paths), False)
    planned: list[PlannedTask] = []
    needs_defaults = False
    for spec in tasks:
        bs = batch_size if batch_size is not None else spec.batch_size
        langs = list(spec.languages or [])
        pairs: list[tuple[str | None, str]]
        if spec.family in local.task_index:
            pairs = [
                (_entry_language(local.task_index[leaf]), leaf)
                for leaf in _leaves(local, spec.family)
            ]
            if langs:
                pairs = [(lang, n) for lang, n in pairs if lang in langs]
        elif spec.family in TASK_FAMILIES:
            table = TASK_FAMILIES[spec.family]
            pairs = [(lang, table[lang]) for lang in (langs or list(table)) if lang in table]
            needs_defaults = True
        else:  # a built-in lm-eval name outside the family tables
            pairs = [(language_of_task(spec.family), spec.family)]
            needs_defaults = True
        planned += [
            PlannedTask(spec.family, lang, name, spec.num_fewshot, spec.limit, bs)
            for lang, name in pairs
        ]
    return planned, needs_defaults


# ------------------------------------------------------------------------------ evaluation


def evaluate_tasks(
    model: Any,
    tokenizer: Any,
    tasks: Sequence[TaskSpec],
    *,
    task_paths: Sequence[str | Path] = (),
    batch_size: int | str | None = None,
    progress: Callable[..., None] | None = None,
    bootstrap_iters: int = DEFAULT_BOOTSTRAP_ITERS,
    lm_kwargs: Mapping[str, Any] | None = None,
    keep: Callable[[PlannedTask], bool] | None = None,
) -> list[dict[str, Any]]:
    """Run lm-eval tasks on the in-memory model; return metric rows (docs/CONTRACTS.md).

    `keep`, when given, picks the planned tasks to run (the others were measured already).

    `batch_size`, when given, overrides each TaskSpec's own batch size. `lm_kwargs` go to HFLM
    (e.g. add_bos_token, max_length); lm-eval's defaults otherwise.
    """
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    planned, needs_defaults = plan_tasks(tasks, task_paths=task_paths, batch_size=batch_size)
    if keep is not None:
        planned = [item for item in planned if keep(item)]
    if not planned:
        return []
    tm = task_manager(task_search_paths(task_paths), needs_defaults)
    lms: dict[int | str, Any] = {}  # one wrapper per batch size, all around the same model
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    for i, item in enumerate(planned):
        if item.batch_size not in lms:
            lms[item.batch_size] = HFLM(
                pretrained=model,
                tokenizer=tokenizer,
                batch_size=item.batch_size,
                **dict(lm_kwargs or {}),
            )
        t0 = time.perf_counter()
        results = simple_evaluate(
            model=lms[item.batch_size],
            tasks=[item.name],
            task_manager=tm,
            num_fewshot=item.num_fewshot,
            limit=item.limit,
            cache_requests=False,
            use_cache=None,
            log_samples=False,
            bootstrap_iters=bootstrap_iters,
        )
        rows += result_rows(results, item, seconds=time.perf_counter() - t0)
        if progress is not None:
            elapsed = time.perf_counter() - start
            progress(
                stage="eval_tasks",
                step=i + 1,
                total=len(planned),
                language=item.language,
                message=f"{item.name} done",
                eta_s=elapsed / (i + 1) * (len(planned) - i - 1),
            )
    return rows


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if math.isnan(float(value)) else float(value)
    return None


def _n_samples(results: dict[str, Any], name: str) -> int | None:
    """Documents scored for a task, or summed over a group's leaves."""
    n_samples = results.get("n-samples", {})
    if name in n_samples:
        return int(n_samples[name].get("effective", n_samples[name].get("original", 0)))
    leaves = [t for t in n_samples if t != name]
    return sum(int(n_samples[t].get("effective", 0)) for t in leaves) or None


def result_rows(
    results: dict[str, Any], item: PlannedTask, *, seconds: float | None = None
) -> list[dict[str, Any]]:
    """lm-eval's result dict for one planned task -> metric rows (one per metric and filter).

    Only the requested name is reported (a group's aggregate, not its members), so that each
    (task, language, metric) appears once in the compare table.
    """
    metrics = results["results"].get(item.name, {})
    n = _n_samples(results, item.name)
    rows = []
    for key, value in metrics.items():
        if "," not in key or "_stderr," in key:
            continue
        metric, filt = key.split(",", 1)
        number = _number(value)
        if number is None:
            continue
        rows.append(
            {
                "kind": "task",
                "task": item.family,
                "subtask": item.name,
                "language": item.language,
                "metric": metric,
                "value": number,
                "stderr": _number(metrics.get(f"{metric}_stderr,{filt}")),
                "n": n,
                "extra": {
                    "filter": filt,
                    "num_fewshot": item.num_fewshot,
                    "limit": item.limit,
                    "seconds": seconds,
                },
            }
        )
    if not rows:  # e.g. a group without aggregate_metric_list: lm-eval reports no metric for it
        log.warning("lm-eval reported no metric for %s (a group without aggregates?)", item.name)
    return rows
