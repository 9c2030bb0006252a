"""The analysis stage of a pruned cell (torch side): masks, LAPE neurons, layer drift.

Runs after the evaluation on the in-memory pruned model:
1. masks: the zero pattern of every prunable linear (`find_linears` of each decoder layer) is
   written to masks.npz (format and row subset: store/masks.py), full or on a row subset.
2. the pruned model runs the held-out windows of each evaluation language (engine/analysis/drift.py)
   with hooks that keep every layer's outputs (drift) and count MLP activations (neurons);
3. the dense weights come back from the worker's snapshot and the same windows run again.
Rows go to analysis.jsonl (one rewrite at the end); the model is left dense.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from langprune.engine.analysis.drift import LayerOutputs, heldout_windows, relative_errors
from langprune.engine.analysis.neurons import ActivationCounter, neuron_kept, neuron_rows
from langprune.engine.prune.layers import find_decoder_layers, find_linears
from langprune.engine.spec.experiment import AnalysisSpec, Run
from langprune.store.masks import MatrixMask, encode, row_subset
from langprune.store.rundir import RunDir

SMALL_MODEL_PARAMS = 1_000_000_000  # neurons and drift on by default up to this size
# Full masks up to this many parameters (2 MB of mask at most): the tiny models. Above it a full
# mask (1/16 of the prunable weights' bf16 size) would break the 2% budget, so 1/8 of the rows
# are kept: 1/128 of the prunable bf16 size, 0.78% of the model's at most.
FULL_MASK_PARAMS = 1 << 24
AUTO_ROW_FRACTION = 0.125


def mask_fraction(spec: AnalysisSpec, n_params: int) -> float | None:
    """Row fraction kept in mask files (None = all rows); see AnalysisSpec.mask_rows."""
    if spec.mask_rows == "all":
        return None
    if spec.mask_rows == "auto":
        return None if n_params <= FULL_MASK_PARAMS else AUTO_ROW_FRACTION
    return None if float(spec.mask_rows) >= 1 else float(spec.mask_rows)


def extract_masks(model: Any, fraction: float | None, model_key: str) -> dict[str, MatrixMask]:
    """The pruned (zero) entries of every prunable matrix, on the model's fixed row subset."""
    out: dict[str, MatrixMask] = {}
    for index, layer in enumerate(find_decoder_layers(model)):
        for name, lin in find_linears(layer).items():
            key = f"{index}.{name}"
            rows = row_subset(key, lin.weight.shape[0], fraction, model_key)
            w = lin.weight.detach()
            pruned = (w[torch.from_numpy(rows).to(w.device)] == 0).cpu().numpy()
            out[key] = MatrixMask((w.shape[0], w.shape[1]), rows, pruned)
    return out


def _enabled(flag: bool | None, n_params: int) -> bool:
    return flag if flag is not None else n_params <= SMALL_MODEL_PARAMS


def reads_text(spec: AnalysisSpec | None, n_params: int) -> bool:
    """Whether the analyses of `spec` read the evaluation text (neurons, drift) besides weights."""
    spec = spec or AnalysisSpec()
    return _enabled(spec.neurons, n_params) or _enabled(spec.drift, n_params)


def _forward(model: Any, windows: torch.Tensor, device: Any) -> None:
    """All windows in one batch (at most `windows` x `seqlen` tokens, 4 x 512 by default)."""
    with torch.no_grad():
        model(windows.to(device), use_cache=False)


def run_analyses(
    run: Run, rd: RunDir, ctx: Any, progress: Callable[..., None], model_key: str
) -> dict[str, float]:
    """Run the analyses switched on for `run`; returns {analysis: seconds}."""
    import time

    spec = run.analysis or AnalysisSpec()
    model, tokenizer, device = ctx.loaded.model, ctx.loaded.tokenizer, ctx.loaded.device
    n_params = sum(p.numel() for p in model.parameters())
    seconds: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    if spec.masks:
        t0 = time.time()
        progress(stage="analysis", step=0, total=3, message="masks")
        fraction = mask_fraction(spec, n_params)
        rd.write_masks(encode(extract_masks(model, fraction, model_key), fraction))
        seconds["masks"] = time.time() - t0
    do_neurons = _enabled(spec.neurons, n_params)
    do_drift = _enabled(spec.drift, n_params)
    ev = run.evaluation
    if (do_neurons or do_drift) and ev.languages and ev.corpus is not None:
        t0 = time.time()
        layers = find_decoder_layers(model)
        seqlen = spec.seqlen or min(ev.seqlen or 512, 512)
        corpus = ctx.corpus(ev.corpus)
        windows = {
            lang: heldout_windows(
                tokenizer, corpus.documents(lang, "heldout"), seqlen, spec.windows
            )
            for lang in ev.languages
        }
        kept = neuron_kept(list(layers)) if do_neurons else None
        states: dict[str, list[list[torch.Tensor]]] = {}
        probs: dict[str, list[np.ndarray]] = {lang: [] for lang in ev.languages}
        for phase in ("pruned", "dense"):
            if phase == "dense":
                ctx.snapshot.restore(model)
                ctx.dirty = False
            for step, lang in enumerate(ev.languages):
                progress(
                    stage="analysis",
                    step=1 + (phase == "dense"),
                    total=3,
                    language=lang,
                    message=f"{phase} forward on {lang} ({step + 1}/{len(ev.languages)})",
                )
                outs: list[list[torch.Tensor]] = [[] for _ in layers]
                errs: list[float] = []

                def keep(index: int, hidden: torch.Tensor, outs: Any = outs) -> None:
                    outs[index].append(hidden.detach().to("cpu", copy=True))

                with LayerOutputs(list(layers), keep if do_drift else lambda i, h: None):
                    if do_neurons:
                        with ActivationCounter(list(layers)) as counter:
                            _forward(model, windows[lang], device)
                        probs[lang].append(counter.probs())
                    else:
                        _forward(model, windows[lang], device)
                if do_drift:
                    stacked = [torch.cat(o) for o in outs]
                    if phase == "pruned":
                        states[lang] = [stacked]
                    else:
                        errs = relative_errors(states.pop(lang)[0], stacked)
                        for layer, value in enumerate(errs):
                            rows.append(
                                {
                                    "analysis": "drift",
                                    "language": lang,
                                    "layer": layer,
                                    "module": None,
                                    "metric": "rel_error",
                                    "value": value,
                                    "n": int(windows[lang].numel()),
                                }
                            )
        if do_neurons:
            assert kept is not None
            dense = np.stack([probs[lang][1] for lang in ev.languages], axis=-1)
            pruned = np.stack([probs[lang][0] for lang in ev.languages], axis=-1)
            rows.extend(
                neuron_rows(
                    dense,
                    pruned,
                    kept,
                    list(ev.languages),
                    top_rate=spec.top_rate,
                    filter_rate=spec.filter_rate,
                    activation_bar_ratio=spec.activation_bar_ratio,
                )
            )
        seconds["neurons_drift"] = time.time() - t0
    rd.write_analysis(rows)
    progress(stage="analysis", step=3, total=3)
    return seconds
