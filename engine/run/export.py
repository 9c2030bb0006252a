"""Write a run's pruned model out as a Hugging Face folder (`langprune export RUN DIR`).

The folder holds the weights as safetensors, the config and the tokenizer, so
`AutoModelForCausalLM.from_pretrained(DIR)` loads it, and a model card (README.md) that says what
the model is: base model, method, sparsity (with OWL's per-layer allocation), calibration language,
corpus, nsamples, seqlen, seed, langprune's version and the run's metrics.

The weights come from the run's checkpoint (pruned.pt, kept when checkpoints are on). Without one
the cell is pruned again from the same model, calibration text and seed; pruning is deterministic,
so the result is the same model, and its measured sparsity is checked against the one the run
recorded. A dense run exports the dense model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langprune import __version__
from langprune.engine.run import pipeline
from langprune.engine.spec.experiment import Run
from langprune.errors import LangpruneError
from langprune.store.records import corpus_label, model_name
from langprune.store.rundir import CHECKPOINT, RunDir

Progress = Callable[..., None]
# The re-pruned model's sparsity must equal the recorded one (deterministic pruning); float
# summation of zero counts is exact, so any difference is a different model.
SPARSITY_MATCH = 1e-9


@dataclass(frozen=True)
class Exported:
    """What `export_run` wrote and where the weights came from."""

    path: Path
    source: str  # "checkpoint" | "re-pruned" | "dense"
    achieved_sparsity: float


def export_run(
    rd: RunDir, workspace: Path, out: Path, progress: Progress | None = None
) -> Exported:
    """Write run `rd`'s pruned model to `out` (an empty or new folder); see the module docstring."""
    spec = rd.read_spec()
    if spec is None:
        raise LangpruneError(f"run {rd.id}: spec.json is missing or unreadable", "check the run id")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LangpruneError(
            f"export directory {out} exists and is not empty", "name a new or empty directory"
        )
    report = progress or (lambda **_: None)
    run = Run.model_validate({k: v for k, v in spec.items() if k in Run.model_fields})
    ctx = pipeline.load_context(run, workspace, report)
    model = ctx.loaded.model
    owl: dict[str, Any] | None = rd.status().get("owl")
    if run.is_dense:
        source = "dense"
    elif (rd.path / CHECKPOINT).is_file():
        pipeline.restore_pruned(model, rd.path / CHECKPOINT)
        source = "checkpoint"
    else:
        calib = pipeline.calibration_ids(run, ctx)
        pruned = pipeline.prune_run(run, ctx, calib, report)
        owl = pruned.owl.to_dict() if pruned.owl is not None else owl
        source = "re-pruned"
        recorded = rd.status().get("achieved_sparsity")
        if isinstance(recorded, float) and abs(pruned.overall - recorded) > SPARSITY_MATCH:
            raise LangpruneError(
                f"run {rd.id}: pruning again reached sparsity {pruned.overall:.6f}, the run "
                f"recorded {recorded:.6f}: not the same model",
                "rerun the cell with checkpoints kept, then export it",
            )
    achieved = pipeline.zero_fraction(model)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    ctx.loaded.tokenizer.save_pretrained(out)
    card = model_card(run, spec, rd, achieved, source, owl)
    (out / "README.md").write_text(card, encoding="utf-8")
    return Exported(out, source, achieved)


def _num(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return "-"
    return f"{value:.4f}"


def model_card(
    run: Run,
    spec: dict[str, Any],
    rd: RunDir,
    achieved: float,
    source: str,
    owl: dict[str, Any] | None,
) -> str:
    """The README.md of an exported model: what it is and what the run measured."""
    base = run.model.id
    title = f"{model_name(spec.get('model') or {})} {run.method} {run.sparsity or ''}".strip()
    lines = [
        "---",
        "library_name: transformers",
        "tags: [langprune, pruned, sparse]",
        *([f"base_model: {base}"] if run.model.kind == "hub" else []),
        "---",
        "",
        f"# {title}",
        "",
        f"Pruned with langprune {__version__} (run `{rd.id}`, cell `{run.cell_id}`).",
        "",
        "| | |",
        "| --- | --- |",
        f"| base model | `{base}` |",
        f"| method | {run.method} |",
        f"| sparsity | {run.sparsity or 'dense'} (measured from the weights: {achieved:.4f}) |",
        f"| calibration language | {run.calibration_language or '-'} |",
        f"| calibration corpus | {corpus_label(spec.get('corpus')) or '-'} |",
        f"| nsamples | {run.nsamples if run.nsamples is not None else '-'} |",
        f"| seqlen | {run.seqlen if run.seqlen is not None else '-'} |",
        f"| seed | {run.seed if run.seed is not None else '-'} |",
        f"| method options | {json.dumps(run.options) if run.options else '-'} |",
        f"| langprune | {__version__} |",
        f"| weights | {_SOURCE[source]} |",
        "",
    ]
    if owl:
        lines += [
            f"OWL allocation (m = {owl.get('m')}, lambda = {owl.get('lam')}), per decoder layer:",
            "",
            "| layer | sparsity | outlier % |",
            "| --- | --- | --- |",
        ]
        for i, (s, o) in enumerate(
            zip(owl.get("layer_sparsity", []), owl.get("outlier_pct", []), strict=False)
        ):
            lines.append(f"| {i} | {_num(s)} | {_num(o)} |")
        lines.append("")
    metrics = rd.read_metrics()
    if metrics:
        lines += [
            "## Metrics of the run",
            "",
            "| kind | task | language | metric | value | stderr |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for m in metrics:
            lines.append(
                f"| {m.get('kind', '-')} | {m.get('subtask') or m.get('task') or '-'} | "
                f"{m.get('language') or '-'} | {m.get('metric', '-')} | {_num(m.get('value'))} | "
                f"{_num(m.get('stderr'))} |"
            )
        lines.append("")
    return "\n".join(lines)


_SOURCE = {
    "checkpoint": "the run's saved pruned weights",
    "re-pruned": "pruned again at export (deterministic: same model, text and seed)",
    "dense": "the dense model (no pruning)",
}


def push(folder: Path, repo: str, *, private: bool = True) -> str:
    """Upload an exported folder to the Hub repo `repo` (created if missing); its URL. Every
    failure (no token, no network, refused) is one LangpruneError naming the repo."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    # the Hub client's own transport errors (no network, DNS) are bases of HfHubHTTPError that
    # are not OSError; whichever HTTP library this huggingface_hub uses
    client = [b for b in HfHubHTTPError.__bases__ if issubclass(b, Exception)]
    failures: tuple[type[Exception], ...] = (OSError, ValueError, *client)

    api = HfApi()
    try:
        api.create_repo(repo, private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo, folder_path=str(folder))
    except failures as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise LangpruneError(  # one line: the export itself is done and stays
            f"--push {repo}: cannot upload to the Hugging Face Hub ({type(exc).__name__}: "
            f"{first}); the export in {folder} is complete: log in (`hf auth login` or HF_TOKEN) "
            "where the Hub is reachable and push again"
        ) from None
    return str(getattr(info, "commit_url", "") or f"https://huggingface.co/{repo}")
