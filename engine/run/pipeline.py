"""One run, start to end, on a model a worker has already loaded (torch side).

Stages (vocab.STAGES): calibration -> prune -> eval_ppl -> eval_tasks -> analysis (pruned cells
only; it leaves the model dense, see engine/analysis/stage.py), one function each (STAGE_STEPS).
After each stage `resume_stage` in
status.json names it, so that a requeued Slurm task picks up after the last completed stage: metric
rows of finished stages are kept, the pruned weights come back from `pruned.pt` (written only when
checkpoints are on, since an 8B model's weights are 16 GB per run).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langprune.engine.run.progress import say, seconds_text
from langprune.engine.run.reuse import copy_analysis, text_digest
from langprune.engine.spec.experiment import Run
from langprune.store.rundir import CHECKPOINT, RunDir
from langprune.vocab import STAGES

Progress = Callable[..., None]


def stage_index(stage: str | None) -> int:
    return STAGES.index(stage) if stage in STAGES else -1


def model_key(run: Run) -> str:
    """What identifies the loaded model: the spec without its label."""
    return json.dumps(run.config()["model"], sort_keys=True)


@dataclass
class ModelContext:
    """What a worker keeps between runs: the loaded model, its dense snapshot, corpora."""

    key: str
    loaded: Any  # LoadedModel: .model, .tokenizer, .device, .dtype
    snapshot: Any  # DenseSnapshot
    load_seconds: float
    dirty: bool = False  # weights differ from the dense snapshot
    corpora: dict[str, Any] = field(default_factory=dict)

    def corpus(self, spec: Any) -> Any:
        key = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
        if key not in self.corpora:
            self.corpora[key] = shared_corpus(spec)
        return self.corpora[key]

    def ensure_dense(self) -> None:
        if self.dirty:
            self.snapshot.restore(self.loaded.model)
            self.dirty = False


def load_context(run: Run, workspace: Path, progress: Progress) -> ModelContext:
    from langprune.engine.models.loading import load_model
    from langprune.engine.models.snapshot import DenseSnapshot

    t0 = time.time()
    progress(stage="load", step=0, total=1, message=f"loading {run.model.id}")
    loaded = load_model(run.model, workspace)
    snapshot = DenseSnapshot.take(loaded.model)
    progress(stage="load", step=1, total=1)
    return ModelContext(model_key(run), loaded, snapshot, time.time() - t0)


def _mark(rd: RunDir, stage: str, **fields: Any) -> None:
    """Record a completed stage (the run stays running)."""
    rd.set_status("running", resume_stage=stage, **fields)


def _keep_metrics(rd: RunDir, keep: Callable[[dict[str, Any]], bool]) -> None:
    """Drop the rows of a stage that did not complete (a requeued task redoes it)."""
    rd.keep_metrics(keep)


def zero_fraction(model: Any) -> float:
    """Overall sparsity of the prunable linear weights, measured from the weights themselves."""
    import torch

    zeros = total = 0
    out_emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and module is not out_emb:
            w = module.weight
            zeros += int((w == 0).sum())
            total += w.numel()
    return zeros / total if total else 0.0


@dataclass
class _Job:
    """What the stages of one `execute` call share."""

    run: Run
    rd: RunDir
    ctx: ModelContext
    progress: Progress
    checkpoints: bool
    seconds: dict[str, float]
    result: dict[str, Any] = field(default_factory=dict)
    calib_ids: Any = None  # LongTensor [nsamples, seqlen] from _calibrate; None for magnitude
    reuse: Reuse | None = None  # what earlier done runs of the same cell already measured


@dataclass
class Reuse:
    """What a run takes from earlier done runs of its cell (engine/run/reuse.py)."""

    donors: Any  # reuse.Donors
    ppl: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # language -> rows
    tasks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # lm-eval name -> rows
    analysis: Any = None  # the RunDir whose analyses are copied, or None
    needs_weights: bool = True


def execute(
    run: Run,
    rd: RunDir,
    ctx: ModelContext,
    progress: Progress,
    *,
    checkpoints: bool = False,
) -> dict[str, Any]:
    """Run every stage not yet completed, in STAGES order; returns the fields for the final status.

    A pruned run resumes after its last completed stage only when its pruned weights were saved
    (checkpoints on); otherwise calibration and pruning are redone (calibration samples are not
    kept). A dense run has no calibration or prune stage.
    """
    job = _Job(run, rd, ctx, progress, checkpoints, dict(rd.status().get("seconds") or {}))
    done = stage_index(rd.status().get("resume_stage"))
    if run.is_dense:
        ctx.ensure_dense()
        job.result["achieved_sparsity"] = zero_fraction(ctx.loaded.model)
    elif done >= stage_index("prune") and (rd.path / CHECKPOINT).is_file():
        restore_pruned(ctx.loaded.model, rd.path / CHECKPOINT)
        ctx.dirty = True
        progress(stage="prune", step=1, total=1, message="pruned weights restored")
    else:
        done = min(done, stage_index("load"))
        job.reuse = _plan_reuse(job)
        if job.reuse is not None:
            done = _skip_pruning(job)
    for stage in STAGES:
        step = STAGE_STEPS.get(stage)
        if step is not None and stage_index(stage) > done and not (run.is_dense and step.pruned):
            step.fn(job)
    job.seconds.setdefault("eval", 0.0)
    job.result["seconds"] = job.seconds
    return job.result


def _calibrate(job: _Job) -> None:
    """Stage calibration: draw the calibration token ids (none for a method that needs no data)."""
    run, ctx = job.run, job.ctx
    ctx.ensure_dense()
    t0 = time.time()
    job.progress(stage="calibration", step=0, total=1, language=run.calibration_language)
    calib_info: dict[str, Any] = {}  # how the samples were drawn, kept in the status
    job.calib_ids = calibration_ids(run, ctx, calib_info)
    job.progress(stage="calibration", step=1, total=1, language=run.calibration_language)
    job.seconds["calibration"] = time.time() - t0
    say(
        job.rd,
        f"calibration: {_calibration_text(run, calib_info)} in {seconds_text(job.seconds['calibration'])}",
    )
    _mark(job.rd, "calibration", seconds=job.seconds, calibration_samples=calib_info or None)


def calibration_ids(run: Run, ctx: ModelContext, info: dict[str, Any] | None = None) -> Any:
    """The run's calibration token ids [nsamples, seqlen], deterministic for its seed; None for a
    method that needs no data (magnitude looks at the weights only)."""
    from langprune.engine.data.calibration import sample_calibration
    from langprune.engine.prune.methods import get_method

    if not get_method(run.method).needs_data:
        return None
    assert run.corpus is not None and run.calibration_language is not None
    assert run.nsamples is not None and run.seqlen is not None and run.seed is not None
    return sample_calibration(
        ctx.corpus(run.corpus),
        ctx.loaded.tokenizer,
        run.calibration_language,
        run.nsamples,
        run.seqlen,
        run.seed,
        info=info if info is not None else {},
    )


def prune_run(run: Run, ctx: ModelContext, calib_ids: Any, progress: Progress) -> Any:
    """Prune the loaded model in place as `run` asks; returns the driver's PruneReport."""
    from langprune.engine.prune.driver import prune_model

    assert run.sparsity is not None
    ctx.dirty = True
    return prune_model(
        ctx.loaded.model,
        calib_ids,  # the driver moves micro-batches to its compute device
        run.method,
        run.sparsity,
        progress=progress,
        offload=run.model.offload,
        options=run.options,
    )


def _prune(job: _Job) -> None:
    """Stage prune: prune in place (the driver checks the sparsity it reached), save if asked."""
    run, ctx = job.run, job.ctx
    t0 = time.time()
    # the stage starts now (the driver's first event comes after the first layer)
    job.progress(stage="prune", step=0, total=None, message=f"{run.method} {run.sparsity}")
    report = prune_run(run, ctx, job.calib_ids, job.progress)
    job.calib_ids = None
    job.seconds["prune"] = time.time() - t0
    job.result["achieved_sparsity"] = report.overall
    say(
        job.rd,
        f"prune: {run.method} {run.sparsity} in {seconds_text(job.seconds['prune'])}, "
        f"achieved sparsity {report.overall:.2%} of the prunable weights",
    )
    if job.checkpoints:
        save_pruned(ctx.loaded.model, job.rd.path / CHECKPOINT)
    # an OWL method's allocation: outlier ratio and sparsity per layer (ingested, shown per run)
    owl = report.owl.to_dict() if report.owl is not None else None
    _mark(job.rd, "prune", seconds=job.seconds, achieved_sparsity=report.overall, owl=owl)


def _plan_reuse(job: _Job) -> Reuse | None:
    """What earlier done runs of this run's cell measured exactly as this run would (reuse.py)."""
    from langprune.engine.run.reuse import Donors

    donors = Donors.of(job.rd, job.run.cell_id)
    if not donors:
        return None
    run, ev, ctx = job.run, job.run.evaluation, job.ctx
    plan = Reuse(donors)
    if ev.languages and ev.corpus is not None:
        from langprune.engine.eval.perplexity import PROTOCOL_VERSION

        assert ev.seqlen is not None
        corpus = ctx.corpus(ev.corpus)
        for lang in ev.languages:
            digest = text_digest(corpus.heldout_documents(lang, ev.languages))
            rows = donors.perplexity_rows(
                lang, corpus.name, ev.seqlen, ev.max_tokens, PROTOCOL_VERSION, digest
            )
            if rows:
                plan.ppl[lang] = rows
    planned: list[Any] = []
    if ev.tasks:
        from langprune.engine.eval.tasks import plan_tasks

        planned, _ = plan_tasks(list(ev.tasks), task_paths=list(ev.task_paths))
        lm_eval = record_versions().get("lm_eval")
        for item in planned:
            rows = donors.task_rows(item.name, item.num_fewshot, item.limit, lm_eval)
            if rows:
                plan.tasks[item.name] = rows
    from langprune.engine.analysis.stage import reads_text

    n_params = sum(p.numel() for p in ctx.loaded.model.parameters())
    plan.analysis = donors.analysis_from(
        run.model_dump(mode="json"), reads_text(run.analysis, n_params)
    )
    left = [lang for lang in ev.languages if lang not in plan.ppl] if ev.corpus else []
    left += [item.name for item in planned if item.name not in plan.tasks]
    plan.needs_weights = bool(left) or plan.analysis is None
    return plan


def _skip_pruning(job: _Job) -> int:
    """Skip calibration and pruning when earlier runs measured everything, else prune again;
    returns the index of the last stage counted as done."""
    reuse = job.reuse
    assert reuse is not None
    first = reuse.donors.runs[0]
    if not reuse.needs_weights:
        job.result["achieved_sparsity"] = first.status().get("achieved_sparsity")
        if first.status().get("owl"):  # the cell's OWL allocation, as its pruning measured it
            job.result["owl"] = first.status()["owl"]
        job.progress(stage="prune", step=1, total=1, message=f"all measured by run {first.id}")
        return stage_index("prune")
    message = f"cell pruned by run {first.id}, which kept no weights: pruning again (deterministic)"
    job.progress(stage="calibration", step=0, total=1, message=message)
    return stage_index("load")


def _eval_ppl(job: _Job) -> None:
    """Stage eval_ppl: perplexity per evaluation language on the held-out text."""
    t0 = time.time()
    rd, ev, ctx = job.rd, job.run.evaluation, job.ctx
    _keep_metrics(rd, lambda r: r.get("kind") != "perplexity")
    if ev.languages and ev.corpus is not None:
        from langprune.engine.eval.perplexity import evaluate_perplexity

        assert ev.seqlen is not None
        corpus = ctx.corpus(ev.corpus)
        for lang in ev.languages:
            reused = job.reuse.ppl.get(lang) if job.reuse is not None else None
            if reused:
                for row in reused:
                    rd.add_metric(row)
                say(rd, f"eval_ppl {lang}: {metrics_text(reused)} (measured by an earlier run)")
                continue
            t_lang = time.time()
            documents = corpus.heldout_documents(lang, ev.languages)
            res = evaluate_perplexity(
                ctx.loaded.model,
                ctx.loaded.tokenizer,
                # parallel corpora: the same held-out documents in every evaluated language
                documents,
                seqlen=ev.seqlen,
                max_tokens=ev.max_tokens,
                batch_size=ev.batch_size,
                progress=job.progress,
                language=lang,
            )
            rows = res.rows(lang, corpus.name)
            for row in rows:
                row["extra"]["text_digest"] = text_digest(documents)
                rd.add_metric(row)
            say(
                rd,
                f"eval_ppl {lang}: {metrics_text(rows)} ({res.windows} windows of {ev.seqlen} "
                f"tokens, {seconds_text(time.time() - t_lang)})",
            )
    _mark(rd, "eval_ppl")
    job.seconds["eval"] = job.seconds.get("eval", 0.0) + time.time() - t0
    if ev.languages and ev.corpus is not None:
        say(rd, f"eval_ppl: {len(ev.languages)} languages in {seconds_text(time.time() - t0)}")


def metrics_text(rows: list[dict[str, Any]]) -> str:
    """Metric rows in a few words: 'ppl 23.41 · bpb 1.234', 'acc 0.412 ± 0.021'."""
    parts = []
    for row in rows:
        value = row.get("value")
        if not isinstance(value, (int, float)):
            continue
        text = f"{row.get('metric')} {value:.4g}"
        if isinstance(row.get("stderr"), (int, float)):
            text += f" ± {row['stderr']:.2g}"
        parts.append(text)
    return " · ".join(parts) or "no value"


def _calibration_text(run: Run, info: dict[str, Any]) -> str:
    """How the calibration samples were drawn (data/calibration.py's `info`), for the log."""
    languages = info.get("languages") or {}
    if not languages:  # magnitude: the weights alone decide
        return f"no samples needed ({run.method} looks at the weights only)"
    corpus = run.corpus.source if run.corpus is not None else "?"
    parts = [
        f"{d.get('samples')} x {run.seqlen} tokens of {lang} from {d.get('documents')} "
        f"{'documents' if d.get('source') == 'documents' else 'chunks of concatenated text'}"
        for lang, d in languages.items()
    ]
    return f"{'; '.join(parts)} (corpus {corpus}, seed {run.seed})"


def _eval_tasks(job: _Job) -> None:
    """Stage eval_tasks: the lm-eval tasks, each with its own batch size."""
    t0 = time.time()
    rd, ev, ctx = job.rd, job.run.evaluation, job.ctx
    _keep_metrics(rd, lambda r: r.get("kind") != "task")
    if ev.tasks:
        from langprune.engine.eval.tasks import evaluate_tasks

        reused = job.reuse.tasks if job.reuse is not None else {}
        for rows in reused.values():
            for row in rows:
                rd.add_metric(row)
        rows = evaluate_tasks(
            ctx.loaded.model,
            ctx.loaded.tokenizer,
            list(ev.tasks),
            task_paths=list(ev.task_paths),
            batch_size=None,  # each task's own batch size
            progress=job.progress,
            keep=lambda item: item.name not in reused,
        )
        for row in rows:
            rd.add_metric(row)
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in [r for rs in reused.values() for r in rs] + rows:
            parts = [row.get("subtask") or row.get("task"), row.get("language")]
            groups.setdefault(" ".join(str(x) for x in parts if x), []).append(row)
        for name, group in groups.items():
            say(rd, f"eval_tasks {name}: {metrics_text(group)}")
        say(rd, f"eval_tasks: {len(ev.tasks)} tasks in {seconds_text(time.time() - t0)}")
    _mark(rd, "eval_tasks")
    job.seconds["eval"] = job.seconds.get("eval", 0.0) + time.time() - t0


def _analysis(job: _Job) -> None:
    """Stage analysis: masks, LAPE neurons, layer drift ([analysis] of the preset)."""
    from langprune.engine.analysis.stage import run_analyses

    t0 = time.time()
    if job.reuse is not None and job.reuse.analysis is not None:
        copy_analysis(job.reuse.analysis, job.rd)
    else:
        run_analyses(job.run, job.rd, job.ctx, job.progress, job.ctx.key)
    job.seconds["analysis"] = time.time() - t0
    figures = job.rd.read_analysis()
    if figures:
        say(job.rd, f"analysis: {len(figures)} rows in {seconds_text(job.seconds['analysis'])}")
    _mark(job.rd, "analysis", seconds=job.seconds)


@dataclass(frozen=True)
class _Step:
    fn: Callable[[_Job], None]
    pruned: bool  # only pruned runs have this stage


# The function of each stage that does work, by its name in STAGES ("load" is load_context).
STAGE_STEPS: dict[str, _Step] = {
    "calibration": _Step(_calibrate, pruned=True),
    "prune": _Step(_prune, pruned=True),
    "eval_ppl": _Step(_eval_ppl, pruned=False),
    "eval_tasks": _Step(_eval_tasks, pruned=False),
    "analysis": _Step(_analysis, pruned=True),
}


def save_pruned(model: Any, path: Path) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)


def restore_pruned(model: Any, path: Path) -> None:
    import torch

    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


def record_versions() -> dict[str, str | None]:
    """Library versions for status.json (from metadata; nothing heavy is imported)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name, dist in (
        ("torch", "torch"),
        ("transformers", "transformers"),
        ("lm_eval", "lm_eval"),
        ("langprune", "langprune"),
    ):
        try:
            out[name] = version(dist)
        except PackageNotFoundError:
            out[name] = None
    return out


def dense_cache(workspace: Path) -> Any:
    from langprune.engine.eval.dense_cache import DenseCache

    return DenseCache(workspace / "dense")


_DIGESTS: dict[str, str | None] = {}  # per process: corpus text digests by corpus + languages
_CORPORA: dict[str, Any] = {}  # per process: corpora read for a dense key, reused by the runs


def shared_corpus(spec: Any) -> Any:
    """The corpus of a spec, read once per process (dense keys and runs share it)."""
    from langprune.engine.data.corpora import get_corpus

    key = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    if key not in _CORPORA:
        _CORPORA[key] = get_corpus(spec)
    return _CORPORA[key]


def run_dense_key(run: Run) -> str:
    """The dense cache key of a run: model, evaluation, protocol, versions and corpus content."""
    from langprune.engine.eval.dense_cache import dense_key

    ev = run.evaluation
    digest = None
    if ev.corpus is not None and ev.languages:
        memo = json.dumps([ev.corpus.model_dump(mode="json"), ev.languages], sort_keys=True)
        if memo not in _DIGESTS:
            _DIGESTS[memo] = shared_corpus(ev.corpus).content_digest(ev.languages)
        digest = _DIGESTS[memo]
    return dense_key(run.model, ev, corpus_digest=digest)


def reuse_dense(run: Run, rd: RunDir, workspace: Path) -> bool:
    """Dense baselines are evaluated once per model + evaluation config (and library versions):
    when the cache has this one, copy its rows into the run and skip loading and evaluating."""
    if not run.is_dense:
        return False
    rows = dense_cache(workspace).get(run_dense_key(run))
    if rows is None:
        return False
    _keep_metrics(rd, lambda r: False)
    for row in rows:
        rd.add_metric(row)
    return True


def store_dense(run: Run, rd: RunDir, workspace: Path) -> None:
    dense_cache(workspace).put(run_dense_key(run), rd.read_metrics(), run_id=run.id)
