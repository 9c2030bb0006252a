"""The sequential layer-wise pruning driver shared by every method.

For each decoder layer: run the dense layer on the calibration hidden states while hooks gather fp32
statistics of each linear sublayer's input, prune every sublayer, re-run the pruned layer, and feed
its outputs to the next layer (the protocol of the Wanda and SparseGPT reference code). A method
registered with needs_data=False (magnitude) skips the forward passes; the driver looks methods
up in the registry of methods.py and has no per-method branch. Embeddings and lm_head are never touched.

An OWL method (`Method.owl`) first runs the dense model layer by layer on the calibration batch to
measure each layer's outlier ratio, turns the ratios into one sparsity per layer (owl.py), then
prunes as any other method with each layer's own sparsity.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from langprune.engine.prune.layers import (
    LayerInputs,
    capture_layer_inputs,
    find_decoder_layers,
    find_linears,
    move_outside_layers,
    on_device,
)
from langprune.engine.prune.methods import InputStats, get_method
from langprune.engine.prune.owl import (
    OWL_LAMBDA,
    OWL_M,
    OwlReport,
    layer_sparsities,
    outlier_percent,
)
from langprune.errors import LangpruneError
from langprune.vocab import Sparsity

Progress = Callable[..., None]
UNSTRUCTURED_TOLERANCE = 0.001  # 0.1 percentage point below the target
# Above the target: the reference rule (`score <= threshold`) removes every weight tied with the
# threshold, which in bf16/fp16 can be a few thousand per matrix; far more is a bug.
UNSTRUCTURED_OVERSHOOT = 0.02
CPU_TOKENS_PER_CALL = 512  # auto micro-batch on CPU: samples x seqlen per layer call


def _unstructured_miss(
    fraction: float, target: float, columns: int = 0, overall: bool = False
) -> bool:
    """Outside [target - tolerance, target + overshoot]. A per-row selection prunes
    int(columns * target) of each row, so a matrix may be short of the target by that rounding
    (under 1 / columns: 0.024 pp at 4096 inputs, more in tiny test models, and at OWL's per-layer
    ratios); the whole model (`overall`) by up to 1 / columns of its narrowest matrix."""
    rounding = 0.0
    if columns:
        rounding = 1 / columns if overall else target - int(columns * target) / columns
    below = max(UNSTRUCTURED_TOLERANCE, rounding + 1e-12)
    return fraction < target - below or fraction > target + UNSTRUCTURED_OVERSHOOT


class SparsityError(LangpruneError, RuntimeError):
    """The weights do not have the sparsity that was asked for."""

    def __init__(self, message: str) -> None:
        super().__init__(
            message, "report it: the pruning method did not reach the requested sparsity"
        )


@dataclass
class PruneReport:
    """What a pruning run reached (measured from the weights) and where its time went."""

    method: str
    sparsity: str
    overall: float
    per_layer: list[float]
    per_matrix: dict[str, float]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    tokens: int = 0
    micro_batch: int = 0
    peak_mem_bytes: int = 0
    device: str = "cpu"
    offload: bool = False
    owl: OwlReport | None = None  # the per-layer allocation of an OWL method

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prune_model(
    model: nn.Module,
    calib_ids: torch.Tensor | None,
    method: str,
    sparsity: str | float,
    *,
    progress: Progress | None = None,
    offload: bool = False,
    micro_batch: int | None = None,
    device: str | torch.device | None = None,
    blocksize: int = 128,
    percdamp: float = 0.01,
    options: dict[str, float] | None = None,
) -> PruneReport:
    """Prune `model` in place, layer by layer; raise SparsityError if the result misses the request.

    calib_ids: LongTensor [nsamples, seqlen] (unused by magnitude). offload: the model stays in CPU
    memory and one decoder layer at a time moves to `device` (default: cuda when available).
    options: the run's method options, passed to the method (RIA's `a`); an OWL method reads
    `owl_m` and `owl_lambda` (defaults OWL_M, OWL_LAMBDA).
    """
    spec = get_method(method)
    method_options: dict[str, Any] = {
        "blocksize": blocksize,
        "percdamp": percdamp,
        **(options or {}),
    }
    pattern = Sparsity.parse(sparsity)
    if spec.owl and pattern.is_nm:
        raise ValueError(f"{method} gives each layer its own unstructured sparsity, not {pattern}")
    layers = find_decoder_layers(model)
    dev = _compute_device(layers, device, offload)
    _check_shapes(layers, pattern)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    t0 = time.perf_counter()
    timings = {"capture": 0.0, "forward": 0.0, "stats": 0.0, "prune": 0.0}
    per_matrix: dict[str, float] = {}
    per_layer: list[float] = []
    zeros = total = 0

    inputs: LayerInputs | None = None
    owl: OwlReport | None = None
    patterns = [pattern] * len(layers)
    if spec.needs_data:
        if calib_ids is None:
            raise ValueError(f"{method} needs calibration samples (calib_ids is None)")
        mb = micro_batch or auto_micro_batch(model, layers, calib_ids.shape, dev)
        if spec.owl:  # before the capture below: one copy of the hidden states at a time
            t = time.perf_counter()
            m = float(method_options.get("owl_m", OWL_M))
            lam = float(method_options.get("owl_lambda", OWL_LAMBDA))
            outliers = _owl_outliers(model, layers, calib_ids, mb, dev, offload, m, progress)
            owl = OwlReport(m, lam, outliers, layer_sparsities(outliers, pattern.fraction, lam))
            patterns = [Sparsity(s) for s in owl.layer_sparsity]
            timings["owl"] = _elapsed(t, dev)
        t_capture = time.perf_counter()
        inputs = _capture(model, layers, calib_ids, mb, dev, offload)
        timings["capture"] = _elapsed(t_capture, dev)
    else:
        mb = 0
    tokens = 0 if calib_ids is None else calib_ids.numel()

    for index, layer in enumerate(layers):
        t_layer = time.perf_counter()
        layer_pattern = patterns[index]
        with torch.no_grad(), on_device(layer, dev, offload):
            linears = find_linears(layer)
            if inputs is None:
                t = time.perf_counter()
                for lin in linears.values():
                    spec.fn([lin.weight], None, layer_pattern, **method_options)
                timings["prune"] += _elapsed(t, dev)
            else:
                groups = _gather_stats(
                    layer, index, linears, inputs, mb, dev, spec.needs_hessian, timings
                )
                t = time.perf_counter()
                for names, stats in groups:
                    weights = [linears[n].weight for n in names]
                    spec.fn(weights, stats, layer_pattern, **method_options)
                del groups
                timings["prune"] += _elapsed(t, dev)
                t = time.perf_counter()
                _run_layer(layer, index, inputs, mb)
                timings["forward"] += _elapsed(t, dev)
            lz = lt = 0
            for name, lin in linears.items():
                z = check_matrix(f"layer {index} {name}", lin.weight, layer_pattern)
                per_matrix[f"{index}.{name}"] = z / lin.weight.numel()
                lz, lt = lz + z, lt + lin.weight.numel()
        per_layer.append(lz / lt)
        zeros, total = zeros + lz, total + lt
        if progress is not None:
            seconds = time.perf_counter() - t_layer
            done = time.perf_counter() - t0
            extra = {"tokens_per_s": tokens / seconds} if tokens and seconds > 0 else {}
            progress(
                stage="prune",
                step=index + 1,
                total=len(layers),
                mem_bytes=peak_memory(dev),
                eta_s=done / (index + 1) * (len(layers) - index - 1),
                layer=index,
                message=f"{method} {pattern}: layer {index + 1}/{len(layers)}",
                **extra,
            )
    overall = zeros / total
    narrowest = min(lin.in_features for lin in find_linears(layers[0]).values())
    if not pattern.is_nm and _unstructured_miss(overall, pattern.fraction, narrowest, overall=True):
        raise SparsityError(
            f"overall sparsity {overall:.4%} misses the requested {pattern.fraction:.2%}"
        )
    return PruneReport(
        method=method,
        sparsity=str(pattern),
        overall=overall,
        per_layer=per_layer,
        per_matrix=per_matrix,
        seconds=time.perf_counter() - t0,
        timings=timings,
        tokens=tokens,
        micro_batch=mb,
        peak_mem_bytes=peak_memory(dev),
        device=str(dev),
        offload=offload,
        owl=owl,
    )


def _capture(
    model: nn.Module,
    layers: nn.ModuleList,
    calib_ids: torch.Tensor,
    mb: int,
    dev: torch.device,
    offload: bool,
) -> LayerInputs:
    """Layer 0's inputs for every calibration sample; with offload the layers outside the
    decoder stack visit the device only for the capture."""
    if offload:
        move_outside_layers(model, layers, dev)
    try:
        with torch.no_grad():
            return capture_layer_inputs(model, layers, calib_ids, mb, dev)
    finally:
        if offload:
            move_outside_layers(model, layers, torch.device("cpu"))


def _owl_outliers(
    model: nn.Module,
    layers: nn.ModuleList,
    calib_ids: torch.Tensor,
    mb: int,
    dev: torch.device,
    offload: bool,
    m: float,
    progress: Progress | None,
) -> list[float]:
    """Each layer's outlier percent of Wanda scores |W| * sqrt(mean x^2) on the dense model, every
    layer fed by the dense layer before it (the first pass of luuyin/OWL's *_owl methods)."""
    inputs = _capture(model, layers, calib_ids, mb, dev, offload)
    out: list[float] = []
    for index, layer in enumerate(layers):
        with torch.no_grad(), on_device(layer, dev, offload):
            linears = find_linears(layer)
            # its time is timings["owl"] as a whole, apart from the pruning pass's forward/stats
            scratch = {"forward": 0.0, "stats": 0.0}
            groups = _gather_stats(layer, index, linears, inputs, mb, dev, False, scratch)
            norms = {
                n: stats.mean_sq().sqrt().unsqueeze(0) for names, stats in groups for n in names
            }
            scores = (lin.weight.detach().abs().float() * norms[n] for n, lin in linears.items())
            out.append(outlier_percent(scores, m))
            _run_layer(layer, index, inputs, mb)
        if progress is not None:
            progress(
                stage="prune",
                step=0,
                total=len(layers),
                layer=index,
                message=f"owl: outlier ratio of layer {index + 1}/{len(layers)}",
            )
    return out


def _gather_stats(
    layer: nn.Module,
    index: int,
    linears: dict[str, nn.Linear],
    inputs: LayerInputs,
    mb: int,
    dev: torch.device,
    hessian: bool,
    timings: dict[str, float],
) -> list[tuple[list[str], InputStats]]:
    """Forward the dense layer with hooks; returns groups of sublayers that read the same input
    (q/k/v, gate/up) with one fp32 statistic each, so shared inputs are counted once."""
    groups: dict[str, list[str]] = {}  # owner name -> all names reading that input
    owner_of: dict[str, str] = {}
    stats: dict[str, InputStats] = {}
    first = True
    seen: dict[tuple[Any, ...], tuple[str, torch.Tensor]] = {}

    def hook(name: str) -> Callable[..., None]:
        def fn(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            x = args[0]
            if first:
                # holding x keeps its memory alive, so an equal key really is the same tensor
                key = (x.data_ptr(), tuple(x.shape), x.stride(), x.dtype)
                if key in seen:
                    owner_of[name] = seen[key][0]
                    groups[seen[key][0]].append(name)
                    return
                seen[key] = (name, x)
                owner_of[name] = name
                groups[name] = [name]
                stats[name] = InputStats(x.shape[-1], dev, hessian=hessian)
            elif owner_of.get(name) != name:
                return
            t = time.perf_counter()
            stats[name].add(x)
            timings["stats"] += _elapsed(t, dev)

        return fn

    handles = [lin.register_forward_hook(hook(name)) for name, lin in linears.items()]
    try:
        t = time.perf_counter()
        for start in range(0, inputs.hidden.shape[0], mb):
            inputs.call(layer, index, inputs.hidden[start : start + mb])
            if first:
                first = False
                seen.clear()
        timings["forward"] += _elapsed(t, dev)
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in linears if n not in owner_of]
    if missing:
        raise RuntimeError(
            f"layer {index}: sublayers {missing} were not called by the layer's forward"
        )
    return [(names, stats[owner]) for owner, names in groups.items()]


def _run_layer(layer: nn.Module, index: int, inputs: LayerInputs, mb: int) -> None:
    """Re-run the (pruned) layer and replace its inputs by its outputs, micro-batch by micro-batch."""
    hidden = inputs.hidden
    for start in range(0, hidden.shape[0], mb):
        hidden[start : start + mb] = inputs.call(layer, index, hidden[start : start + mb])


def check_matrix(where: str, weight: torch.Tensor, p: Sparsity) -> int:
    """Count zeros; raise SparsityError on an unstructured miss (0.1 pp below the target, or more than
    2 pp above: ties at the threshold may add a few) or on any violated N:M group."""
    w = weight.detach()
    zeros = int((w == 0).sum())
    if p.is_nm:
        per_group = (w.reshape(w.shape[0], -1, p.m) == 0).sum(-1)
        bad = int((per_group < p.n).sum())
        if bad:
            raise SparsityError(
                f"{where}: {bad} groups of {p.m} inputs have fewer than {p.n} zeros"
            )
    elif _unstructured_miss(zeros / w.numel(), p.fraction, w.shape[1]):
        raise SparsityError(
            f"{where}: sparsity {zeros / w.numel():.4%} misses the requested {p.fraction:.2%}"
        )
    return zeros


def _check_shapes(layers: nn.ModuleList, p: Sparsity) -> None:
    if not p.is_nm:
        return
    for name, lin in find_linears(layers[0]).items():
        if lin.in_features % p.m:
            raise ValueError(
                f"{p} sparsity needs in_features divisible by {p.m}; {name} has {lin.in_features}"
            )


def _compute_device(
    layers: nn.ModuleList, device: str | torch.device | None, offload: bool
) -> torch.device:
    if device is not None:
        return torch.device(device)
    if offload:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return next(layers.parameters()).device


def auto_micro_batch(
    model: nn.Module, layers: nn.ModuleList, shape: torch.Size, dev: torch.device
) -> int:
    """Samples per micro-batch: on CUDA as many as fit in a quarter of free memory (larger batches
    keep a GPU busy); on CPU about CPU_TOKENS_PER_CALL tokens per call (1 sample at seqlen 512 and
    up, 4 at 128), where bigger calls only cost cache misses (measured: the forward floor of
    llama-768 at 32 x 512, 1 thread, 45.0 s at batch 8 vs 41.8 s at batch 1), and within a tenth of
    available memory."""
    n, seqlen = shape
    cfg = getattr(model, "config", None)
    hidden = getattr(cfg, "hidden_size", 4096)
    inter = getattr(cfg, "intermediate_size", 4 * hidden)
    heads = getattr(cfg, "num_attention_heads", 32)
    elem = next(layers.parameters()).element_size()
    # activations of one sample through one layer: residual stream copies, MLP intermediates, scores
    per_sample = seqlen * (8 * hidden + 4 * inter + heads * seqlen) * elem + seqlen * inter * 4
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        budget, cap = free * 0.25, n
    else:
        import psutil

        budget, cap = psutil.virtual_memory().available * 0.1, CPU_TOKENS_PER_CALL // seqlen
    return int(max(1, min(cap, n, budget // max(per_sample, 1))))


def peak_memory(dev: torch.device) -> int:
    """Peak bytes: CUDA memory allocated on the device, else the process's peak resident set."""
    if dev.type == "cuda":
        return int(torch.cuda.max_memory_allocated(dev))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _elapsed(t: float, dev: torch.device) -> float:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return time.perf_counter() - t
