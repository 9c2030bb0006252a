"""OWL: outlier-weighted layerwise sparsity (Yin et al. 2024, reference code luuyin/OWL).

Each decoder layer's outlier ratio (its "layerwise outlier distribution", LOD) is the share, in
percent, of the layer's Wanda scores |W_ij| * ||x_j|| (all its linear sublayers together) above
M times their mean (lib/prune_all.py, check_outlier_mean). The scores come from the dense model on
the calibration batch, each layer fed by the dense layer before it. The ratios are scaled to
[0, 2 * lambda], centred, and shifted so that the layers keep 1 - s on average:

    keep_i = (lod_i - min) / (max - min) * 2 * lambda - mean(...) + (1 - s)
    sparsity_i = 1 - keep_i          (0.01 where that is <= 0, as the reference)

so layers with more outliers are pruned less. Defaults as the reference's published scripts (README:
`--Hyper_m 5 --Lamda 0.08`). When every layer has the same ratio (max == min, where the reference
divides by zero) every layer gets s. Decoder layers of one model have the same size, so the mean
of the layer sparsities is the model's overall sparsity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch

OWL_M = 5.0  # Hyper_m: a score is an outlier above M x the layer's mean score
OWL_LAMBDA = 0.08  # Lamda: layer sparsities span at most [s - lambda, s + lambda]
MIN_LAYER_SPARSITY = 0.01  # the reference's floor for a layer whose keep ratio reaches 1


@dataclass
class OwlReport:
    """The OWL allocation of one pruning: outlier ratio (percent) and sparsity per decoder layer."""

    m: float
    lam: float
    outlier_pct: list[float]
    layer_sparsity: list[float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def outlier_percent(scores: Iterable[torch.Tensor], m: float = OWL_M) -> float:
    """Percent of all entries of `scores` (a layer's score matrices) above m x their joint mean;
    the same count as concatenating them (the reference) without the concatenated copy."""
    scores = list(scores)
    total = sum(s.numel() for s in scores)
    mean = sum(float(s.double().sum()) for s in scores) / total
    above = sum(int((s > mean * m).sum()) for s in scores)
    return above / total * 100


def layer_sparsities(
    outlier_pct: list[float], target: float, lam: float = OWL_LAMBDA
) -> list[float]:
    """The sparsity of each layer from its outlier ratio (module docstring), in float64."""
    r = torch.tensor(outlier_pct, dtype=torch.float64)
    spread = float(r.max() - r.min())
    if spread == 0:
        return [float(target)] * len(outlier_pct)
    scaled = (r - r.min()) * (1 / spread * lam * 2)
    keep = scaled - scaled.mean() + (1 - target)
    sparsity = 1 - keep
    return [s if s > 0 else MIN_LAYER_SPARSITY for s in sparsity.tolist()]
