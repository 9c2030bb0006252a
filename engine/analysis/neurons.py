"""Language-specific MLP neurons (LAPE, Tang et al. 2024) and what pruning does to them.

Protocol (after RUCAIBox/Language-Specific-Neurons, `activation.py` + `identify.py`):

1. Activation probability p[l, j, lang]: the share of held-out tokens of `lang` on which neuron j of
   layer l is active, i.e. its activation act_fn(gate_proj(x))_j > 0 (the reference counts
   `silu(gate) > 0` inside the MLP). Measured with a forward hook on each layer's `mlp.act_fn`
   (found, not hard-coded: the first submodule of the MLP whose name ends in `act_fn` / `act`).
2. Normalise over languages, q = p / sum_lang p (0 where the sum is 0), entropy H = -sum q log q.
3. Neurons whose p exceeds the `filter_rate` quantile (0.95) of all p in no language are dismissed.
4. Of the rest, the `top_rate` share (0.05) of all neurons with the lowest entropy is kept
   (ties broken by index, as topk does).
5. A kept neuron is specific to every language in which p exceeds the `activation_bar_ratio`
   quantile (0.95) of all p. Quantiles are the reference's `kthvalue(round(N * ratio))`: the k-th
   smallest value, 1-based.

For a pruned cell: a neuron's weights are row j of gate_proj and up_proj and column j of
down_proj; `kept` is the share of those weights that are non-zero, averaged over a language's
specific neurons, next to the kept share of all MLP neurons (what an average neuron keeps).
`dprob` is the mean change p_pruned - p_dense of those neurons on their own language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TOP_RATE = 0.05
FILTER_RATE = 0.95
ACTIVATION_BAR_RATIO = 0.95


def _kth(values: np.ndarray, ratio: float) -> float:
    """The reference's `kthvalue(round(N * ratio))`: k-th smallest, 1-based, k at least 1."""
    flat = values.reshape(-1)
    k = min(max(1, round(len(flat) * ratio)), len(flat))
    return float(np.partition(flat, k - 1)[k - 1])


def identify(
    probs: np.ndarray,
    *,
    top_rate: float = TOP_RATE,
    filter_rate: float = FILTER_RATE,
    activation_bar_ratio: float = ACTIVATION_BAR_RATIO,
) -> list[list[tuple[int, int]]]:
    """LAPE on p [layers, neurons, langs]: for each language, its specific (layer, neuron) pairs."""
    probs = np.asarray(probs, dtype=np.float64)
    _, n_neurons, n_langs = probs.shape
    total = probs.sum(axis=-1, keepdims=True)
    q = np.divide(probs, total, out=np.zeros_like(probs), where=total > 0)
    logq = np.log(q, out=np.zeros_like(q), where=q > 0)
    entropy = -(q * logq).sum(axis=-1)
    top_value = _kth(probs, filter_rate)
    entropy[(probs > top_value).sum(axis=-1) == 0] = np.inf
    count = round(entropy.size * top_rate)
    order = np.argsort(entropy.reshape(-1), kind="stable")[:count]
    order = order[np.isfinite(entropy.reshape(-1)[order])]
    bar = _kth(probs, activation_bar_ratio)
    out: list[list[tuple[int, int]]] = [[] for _ in range(n_langs)]
    for flat in sorted(order.tolist()):
        layer, neuron = divmod(flat, n_neurons)
        for lang in np.nonzero(probs[layer, neuron] > bar)[0].tolist():
            out[lang].append((layer, neuron))
    return out


def _act_module(mlp: Any) -> Any:
    for name, module in mlp.named_modules():
        if name and name.split(".")[-1] in ("act_fn", "act", "activation_fn"):
            return module
    raise RuntimeError(f"{type(mlp).__name__}: no activation submodule (act_fn) to hook")


def mlp_of(layer: Any) -> Any:
    mlp = getattr(layer, "mlp", None) or getattr(layer, "feed_forward", None)
    if mlp is None:
        raise RuntimeError(f"{type(layer).__name__}: no mlp submodule")
    return mlp


@dataclass
class ActivationCounter:
    """Counts, per layer and neuron, the tokens on which act_fn(gate) > 0 (hooks on act_fn)."""

    layers: Sequence[Any]

    def __post_init__(self) -> None:
        self.over_zero: list[Any] = [None] * len(self.layers)
        self.tokens = 0
        self._handles: list[Any] = []

    def __enter__(self) -> ActivationCounter:
        for index, layer in enumerate(self.layers):
            self._handles.append(
                _act_module(mlp_of(layer)).register_forward_hook(self._hook(index))
            )
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, index: int) -> Callable[..., None]:
        def fn(module: Any, args: Any, output: Any) -> None:
            active = (output > 0).reshape(-1, output.shape[-1]).sum(dim=0).double().cpu()
            prev = self.over_zero[index]
            self.over_zero[index] = active if prev is None else prev + active
            if index == 0:
                self.tokens += output.reshape(-1, output.shape[-1]).shape[0]

        return fn

    def probs(self) -> np.ndarray:
        """p [layers, neurons] of what was counted."""
        return np.stack([c.numpy() for c in self.over_zero]) / max(self.tokens, 1)


def neuron_kept(layers: Sequence[Any]) -> np.ndarray:
    """Share of non-zero weights of each MLP neuron [layers, neurons] (gate/up rows, down column)."""
    out = []
    for layer in layers:
        mlp = mlp_of(layer)
        parts = []
        for name in ("gate_proj", "up_proj"):
            lin = getattr(mlp, name, None)
            if lin is not None:
                parts.append((lin.weight != 0).sum(dim=1).double())
        down = mlp.down_proj
        nonzero = sum(parts) + (down.weight != 0).sum(dim=0).double()
        total = sum(
            getattr(mlp, n).in_features for n in ("gate_proj", "up_proj") if hasattr(mlp, n)
        )
        out.append((nonzero / (total + down.out_features)).cpu().numpy())
    return np.stack(out)


def neuron_rows(
    dense: np.ndarray,
    pruned: np.ndarray,
    kept: np.ndarray,
    languages: Sequence[str],
    **thresholds: float,
) -> list[dict[str, Any]]:
    """Rows per neuron language: n specific neurons, kept share, change of activation probability.

    dense, pruned: p [layers, neurons, langs] of the dense and the pruned model; kept: [layers, neurons].
    """
    specific = identify(dense, **thresholds)
    rows: list[dict[str, Any]] = []
    for li, lang in enumerate(languages):
        idx = specific[li]
        if idx:
            ls, ns = np.array(idx).T
            k = float(kept[ls, ns].mean())
            dp = float((pruned[ls, ns, li] - dense[ls, ns, li]).mean())
        else:
            k = dp = float("nan")
        base = {"analysis": "neurons", "language": lang, "layer": None, "module": None}
        rows.append({**base, "metric": "n_specific", "value": float(len(idx))})
        rows.append({**base, "metric": "kept", "value": k})
        rows.append({**base, "metric": "kept_all", "value": float(kept.mean())})
        rows.append({**base, "metric": "dprob", "value": dp})
        per_layer = np.bincount(
            np.array([layer for layer, _ in idx], dtype=int), minlength=dense.shape[0]
        )
        for layer, n in enumerate(per_layer.tolist()):
            rows.append({**base, "layer": layer, "metric": "n_specific", "value": float(n)})
    return rows
