"""The pruning methods: magnitude, Wanda (Sun et al. 2023), SparseGPT (Frantar & Alistarh 2023),
RIA (Zhang et al. 2024) and the OWL variants of the first three (Yin et al. 2024).

Each method prunes a group of Linear weights that read the same input (q/k/v, gate/up), in place,
from fp32 statistics of that input. The driver (driver.py) decides what the groups and inputs are. Every method has the signature
`fn(weights, stats, pattern, **options)` and is registered by name with `@register`; the driver
looks it up in REGISTRY and has no per-method branch.

An OWL method (`owl=True`) is its base method's function applied with one sparsity per decoder
layer; the driver computes those sparsities from the layers' outlier ratios first (owl.py).
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from langprune.vocab import Sparsity

MethodFn = Callable[..., None]
"""fn(weights, stats, pattern, **options): prune `weights` (Linear weights reading one input) in
place. stats is the fp32 InputStats of that input, or None for a method that needs no data.
options are the driver's method options (blocksize, percdamp); a method ignores those it does
not use, so the driver passes the same options to every method."""


@dataclass(frozen=True)
class Method:
    """A registered pruning method: its function and what the driver must gather for it."""

    name: str
    fn: MethodFn
    needs_data: bool  # False: no calibration forward passes, stats is None
    needs_hessian: bool  # True: stats carry X^T X as well as the squared norms
    owl: bool = False  # True: the driver gives each decoder layer its own OWL sparsity


REGISTRY: dict[str, Method] = {}


def register(
    name: str, *, needs_data: bool = True, needs_hessian: bool = False, owl: bool = False
) -> Callable[[MethodFn], MethodFn]:
    """Register `fn` under `name`: a new method is one function plus this decorator."""

    def add(fn: MethodFn) -> MethodFn:
        if name in REGISTRY:
            raise ValueError(f"pruning method {name!r} is registered twice")
        REGISTRY[name] = Method(name, fn, needs_data, needs_hessian, owl)
        return fn

    return add


def get_method(name: str) -> Method:
    """The registered method called `name`; ValueError naming the allowed ones and a near match."""
    if name in REGISTRY:
        return REGISTRY[name]
    close = difflib.get_close_matches(name, list(REGISTRY), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown method {name!r}{hint} (allowed: {', '.join(REGISTRY)})")


class InputStats:
    """Running fp32 statistics of one Linear input over all calibration tokens.

    Divergence from the reference SparseGPT (`H *= n / (n + b); H += (sqrt(2 / n) x) (sqrt(2 / n)
    x)^T` per batch): the raw sum of x x^T is accumulated and scaled by 2/N once at the end, and on
    CPU only its lower triangle is summed (BLAS syrk), then mirrored. The same matrix up to float
    rounding of the summation order.
    """

    def __init__(
        self, columns: int, device: torch.device, hessian: bool, dtype: torch.dtype = torch.float32
    ) -> None:
        self.tokens = 0
        self.samples = 0
        self.dtype = dtype  # float32 in the driver; float64 lets tests compare with exact math
        self.sum_sq = torch.zeros(columns, dtype=dtype, device=device)
        self.xtx = torch.zeros((columns, columns), dtype=dtype, device=device) if hessian else None

    def add(self, x: torch.Tensor) -> None:
        """Accumulate a micro-batch of inputs shaped [batch, seq, columns] (or [tokens, columns])."""
        self.samples += x.shape[0] if x.dim() == 3 else 1
        x = x.reshape(-1, x.shape[-1]).to(self.dtype)
        self.tokens += x.shape[0]
        if self.xtx is None:
            self.sum_sq += x.pow(2).sum(0)
        elif self.xtx.device.type == "cpu":
            _syrk_lower(self.xtx, x)
        else:
            self.xtx.addmm_(x.T, x)

    def mean_sq(self) -> torch.Tensor:
        """Per input channel, the mean over tokens of x_j^2."""
        sq = self.xtx.diagonal() if self.xtx is not None else self.sum_sq
        return sq / self.tokens

    def hessian(self) -> torch.Tensor:
        """H = 2/N * sum x x^T with N the number of calibration sequences, as the reference code."""
        assert self.xtx is not None
        if self.xtx.device.type == "cpu":  # only the lower triangle was accumulated
            upper = torch.ones_like(self.xtx, dtype=torch.bool).triu_(1)
            self.xtx[upper] = self.xtx.T[upper]
        return self.xtx.mul_(2 / self.samples)


def _syrk_lower(xtx: torch.Tensor, x: torch.Tensor) -> None:
    """xtx += x^T x on its lower triangle, in place, through BLAS syrk: half the work of a matrix
    product (the Hessian is symmetric) and the dominant cost of SparseGPT's statistics on CPU.
    A C-ordered lower triangle is a Fortran-ordered upper one, which is what scipy hands BLAS."""
    from scipy.linalg import blas

    syrk = blas.dsyrk if xtx.dtype == torch.float64 else blas.ssyrk
    c = xtx.numpy().T  # Fortran-ordered view of the same memory
    a = x.contiguous().numpy().T  # [columns, tokens], Fortran-ordered: a @ a.T = x^T x
    out = syrk(1.0, a, beta=1.0, c=c, trans=0, lower=0, overwrite_c=1)
    if not np.shares_memory(out, c):  # scipy copied after all: write the result back
        c[...] = out


def lowest_k_mask(score: torch.Tensor, k: int) -> torch.Tensor:
    """Per row of `score`, True at its k smallest entries, ties broken by lower index: the same
    selection as a stable sort (as the reference code), but through kthvalue, which is faster."""
    if k <= 0:
        return torch.zeros_like(score, dtype=torch.bool)
    thr = score.kthvalue(k, dim=-1, keepdim=True).values
    mask = score < thr
    tie = score == thr
    deficit = k - mask.sum(-1, keepdim=True)
    return mask | (tie & (tie.cumsum(-1) <= deficit))


def reference_threshold_mask(score: torch.Tensor, fraction: float) -> torch.Tensor:
    """True where `score <= sort(score.flatten())[int(numel * fraction)]`: the unstructured rule of
    the reference code (locuslab/wanda lib/prune.py, prune_magnitude: `thresh = torch.sort(
    W_metric.flatten())[0][int(W.numel()*args.sparsity_ratio)]; W_mask = (W_metric<=thresh)`;
    IST-DASLab/sparsegpt sparsegpt.py, fasterprune: `mask1 = tmp <= thresh` per block).

    So k + 1 entries go (k = int(numel * fraction)), plus every further entry tied with the
    threshold. The threshold is read with kthvalue (the (k+1)-th smallest, the same value as the
    sorted element). fraction <= 0 selects nothing; k is capped at numel - 1 (fraction 1 prunes
    everything instead of indexing past the end as the reference would).
    """
    flat = score.reshape(-1)
    if fraction <= 0 or flat.numel() == 0:
        return torch.zeros_like(score, dtype=torch.bool)
    k = min(int(flat.numel() * fraction), flat.numel() - 1)
    thresh = flat.kthvalue(k + 1).values
    return score <= thresh


def _prune_lowest(weight: torch.Tensor, score: torch.Tensor, p: Sparsity) -> None:
    """Zero, in place, the lowest-scoring weights: `fraction` of each row, or n of every m inputs."""
    rows, cols = score.shape
    if p.is_nm:
        groups = score.view(rows, cols // p.m, p.m)
        idx = groups.topk(p.n, dim=-1, largest=False).indices
        mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, idx, True).view(rows, cols)
    else:
        mask = lowest_k_mask(score, int(cols * p.fraction))
    weight.data.masked_fill_(mask, 0)


@register("magnitude", needs_data=False)
def magnitude(
    weights: list[torch.Tensor], stats: InputStats | None, p: Sparsity, **options: Any
) -> None:
    """|W|: one threshold per matrix, `|W| <= sort(|W|)[int(numel * s)]` goes (the reference rule,
    `reference_threshold_mask`: k + 1 weights and the ties), or n of every m inputs of a row for N:M."""
    for w in weights:
        score = w.detach().abs().float()
        if p.is_nm:
            _prune_lowest(w, score, p)
        else:
            # wanda lib/prune.py prune_magnitude: W_mask = (W_metric <= thresh)
            w.data.masked_fill_(reference_threshold_mask(score, p.fraction), 0)


@register("wanda")
def wanda(weights: list[torch.Tensor], stats: InputStats, p: Sparsity, **options: Any) -> None:
    """Score |W_ij| * sqrt(mean_t x_j^2), compared within each output row (or row group of m)."""
    norm = stats.mean_sq().sqrt().unsqueeze(0)
    for w in weights:
        _prune_lowest(w, w.detach().abs().float() * norm, p)


@register("sparsegpt", needs_hessian=True)
def sparsegpt(
    weights: list[torch.Tensor],
    stats: InputStats,
    p: Sparsity,
    blocksize: int = 128,
    percdamp: float = 0.01,
    **options: Any,
) -> None:
    """OBS pruning with lazy block updates. Weights sharing one Hessian are stacked by rows (the
    algorithm is row-independent) while unstructured masks are still chosen per matrix."""
    bounds = [0, *itertools.accumulate(w.shape[0] for w in weights)]
    W = torch.cat([w.detach().to(stats.dtype) for w in weights])
    H = stats.hessian()
    cols = W.shape[1]
    dead = H.diagonal() == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H.diagonal().add_(percdamp * H.diagonal().mean())
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    del H

    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].clone()
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        d = Hinv1.diagonal()
        mask1 = torch.zeros_like(W1, dtype=torch.bool)
        if not p.is_nm:
            # adaptive mask per matrix and block: w^2 / [H^-1]_jj^2 <= its sorted value at
            # int(numel * s), as sparsegpt.py fasterprune (`mask1 = tmp <= thresh`): k + 1 and ties
            score = W1.pow(2) / d.pow(2).unsqueeze(0)
            for r0, r1 in itertools.pairwise(bounds):
                mask1[r0:r1] = reference_threshold_mask(score[r0:r1], p.fraction)
        for i in range(i2 - i1):
            if p.is_nm and i % p.m == 0:
                score = W1[:, i : i + p.m].pow(2) / d[i : i + p.m].pow(2).unsqueeze(0)
                mask1.scatter_(1, i + score.topk(p.n, dim=1, largest=False).indices, True)
            w = W1[:, i]
            err = torch.where(mask1[:, i], w, 0) / d[i]
            W1[:, i:].addr_(err, Hinv1[i, i:], alpha=-1)  # OBS: compensate the pruned weights
            W1[:, i].masked_fill_(mask1[:, i], 0)
            Err1[:, i] = err
        W[:, i1:i2] = W1
        W[:, i2:].addmm_(Err1, Hinv[i1:i2, i2:], alpha=-1)  # lazy update of the later columns

    for w, (r0, r1) in zip(weights, itertools.pairwise(bounds), strict=True):
        w.data.copy_(W[r0:r1])


RIA_A = 0.5  # the activation exponent a of the reference code (main.py: --a, default 0.5)


def ria_score(w: torch.Tensor, mean_sq: torch.Tensor, a: float = RIA_A) -> torch.Tensor:
    """Relative importance times activations: (|W_ij| / sum_i |W_ij| + |W_ij| / sum_j |W_ij|)
    * sqrt(mean_t x_j^2) ** a. The relative importance is summed over the weight's column (its
    input channel) and over its row (its output), as Relative-importance-and-activation-pruning
    lib/prune.py (`torch.sum(torch.abs(W), dim=0)` and `dim=1`). The reference's activation norm
    is sqrt(sum_t x_j^2 / nsamples): a constant factor away from ours per matrix, which changes
    no comparison within a matrix."""
    aw = w.detach().abs().float()
    relative = aw / aw.sum(dim=0, keepdim=True) + aw / aw.sum(dim=1, keepdim=True)
    return relative * mean_sq.sqrt().unsqueeze(0).pow(a)


@register("ria")
def ria(
    weights: list[torch.Tensor], stats: InputStats, p: Sparsity, a: float = RIA_A, **options: Any
) -> None:
    """RIA (Zhang et al. 2024, "Plug-and-Play"): `ria_score` per matrix; unstructured keeps the
    reference's per-matrix rule (`W_metric <= sort(W_metric)[int(numel * s)]`: k + 1 and ties),
    N:M the n lowest of every m inputs of a row. Without channel reallocation or linear sum
    assignment (both off by default in the reference)."""
    mean_sq = stats.mean_sq()
    for w in weights:
        score = ria_score(w, mean_sq, a)
        if p.is_nm:
            _prune_lowest(w, score, p)
        else:
            w.data.masked_fill_(reference_threshold_mask(score, p.fraction), 0)


# OWL (Yin et al. 2024, luuyin/OWL lib/prune_all.py: magnitude_owl, wanda_owl, sparsegpt_owl):
# the base method with one sparsity per decoder layer, chosen by the driver (owl.py). Each needs
# calibration data, magnitude's too: the outlier ratios come from Wanda's score on it.


@register("magnitude_owl", owl=True)
def magnitude_owl(
    weights: list[torch.Tensor], stats: InputStats | None, p: Sparsity, **options: Any
) -> None:
    """Magnitude at this layer's OWL sparsity `p` (one threshold per matrix, as the reference)."""
    magnitude(weights, None, p, **options)


@register("wanda_owl", owl=True)
def wanda_owl(weights: list[torch.Tensor], stats: InputStats, p: Sparsity, **options: Any) -> None:
    """Wanda at this layer's OWL sparsity `p` (per output row, as the reference)."""
    wanda(weights, stats, p, **options)


@register("sparsegpt_owl", needs_hessian=True, owl=True)
def sparsegpt_owl(
    weights: list[torch.Tensor], stats: InputStats, p: Sparsity, **options: Any
) -> None:
    """SparseGPT at this layer's OWL sparsity `p`."""
    sparsegpt(weights, stats, p, **options)


METHODS = {name: m.fn for name, m in REGISTRY.items()}  # name -> function, in registration order
