"""Pruning masks kept in a run directory, and how similar two cells' masks are (numpy only).

File format (`masks.npz` in the run dir, written only through `RunDir.write_masks`): a numpy `.npz`
archive, zip-deflated, holding for every prunable matrix `<layer>.<name>` (e.g. `3.mlp.up_proj`)
  - `<key>|shape`: int64 [rows, cols] of the whole matrix,
  - `<key>|rows`: int64 indices of the rows kept (all rows for a full mask; a fixed deterministic
    subset otherwise, the same in every cell of one model, see `row_subset`),
  - `<key>|bits`: uint8, `np.packbits` of the boolean "pruned" matrix [len(rows), cols] (C order),
and `__meta__`: JSON bytes {"version": 1, "row_fraction": f | null (null = full)}.

Overlap of the pruned sets A and B of two cells (the weights each set to zero) is the Jaccard index
    J(A, B) = |A ∩ B| / |A ∪ B|     (1 when both are empty)
taken overall, per decoder layer and per module type (q, k, v, o, gate, up, down). With a row
subset the estimate is a stratified ratio estimator: each matrix is a stratum whose sampled rows
are weighted by rows / sampled rows, J = sum w_i I_i / sum w_i U_i (I_i, U_i: intersection and union
counts of row i), and its standard error is the linearised one,
    se = sqrt(sum_m N_m^2 (1 - n_m/N_m) s_m^2 / n_m) / U_hat,   s_m^2 = var(I_i - J U_i) in stratum m,
which is 0 for full masks. An unbiased-enough figure for the question asked (does changing the
calibration language move the mask more than changing the seed?), stated as mean +- se.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MASK_FILE = "masks.npz"
MODULE_TYPES = ("q", "k", "v", "o", "gate", "up", "down")
_MODULE_RE = {
    "q": r"q_proj$",
    "k": r"k_proj$",
    "v": r"v_proj$",
    "o": r"o_proj$",
    "gate": r"gate_proj$",
    "up": r"up_proj$",
    "down": r"down_proj$",
}


def module_type(name: str) -> str:
    """'q' for 'self_attn.q_proj', ... ; other names (fused projections) are kept as written."""
    for short, pattern in _MODULE_RE.items():
        if re.search(pattern, name):
            return short
    return name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class MatrixMask:
    """The pruned (True) entries of the kept rows of one matrix."""

    shape: tuple[int, int]
    rows: np.ndarray  # int64 [k]
    pruned: np.ndarray  # bool [k, cols]

    @property
    def full(self) -> bool:
        return len(self.rows) == self.shape[0]


def row_subset(key: str, n_rows: int, fraction: float | None, model_key: str) -> np.ndarray:
    """The rows kept of matrix `key`: all when fraction is None, else ceil(fraction * n_rows) rows
    drawn without replacement by a generator seeded from (model_key, key, n_rows), so every cell
    of one model keeps the same rows and two cells' masks can be compared row by row."""
    if fraction is None or fraction >= 1:
        return np.arange(n_rows, dtype=np.int64)
    if not fraction > 0:
        raise ValueError(f"mask row fraction {fraction!r} must be in (0, 1] (or None for all)")
    k = max(1, int(np.ceil(fraction * n_rows)))
    seed = int.from_bytes(
        hashlib.sha256(f"{model_key}|{key}|{n_rows}".encode()).digest()[:8], "big"
    )
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=k, replace=False)).astype(np.int64)


def encode(masks: Mapping[str, MatrixMask], row_fraction: float | None) -> bytes:
    """The `.npz` bytes of a set of masks (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {}
    for key, m in masks.items():
        arrays[f"{key}|shape"] = np.asarray(m.shape, dtype=np.int64)
        arrays[f"{key}|rows"] = np.asarray(m.rows, dtype=np.int64)
        arrays[f"{key}|bits"] = np.packbits(np.ascontiguousarray(m.pruned, dtype=bool), axis=None)
    meta = {"version": 1, "row_fraction": row_fraction}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def read_masks(path: Path) -> tuple[dict[str, MatrixMask], dict[str, object]]:
    """Masks and meta of a mask file; raises ValueError for a file that is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["__meta__"]).decode())
            keys = sorted({name.rsplit("|", 1)[0] for name in data.files if "|" in name})
            out: dict[str, MatrixMask] = {}
            for key in keys:
                shape = tuple(int(x) for x in data[f"{key}|shape"])
                rows = data[f"{key}|rows"].astype(np.int64)
                n = len(rows) * shape[1]
                bits = np.unpackbits(data[f"{key}|bits"], count=n).astype(bool)
                out[key] = MatrixMask((shape[0], shape[1]), rows, bits.reshape(len(rows), shape[1]))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a langprune mask file ({exc})") from exc
    return out, meta


@dataclass(frozen=True)
class Overlap:
    """Jaccard index of two pruned sets over some matrices, with its standard error."""

    jaccard: float
    stderr: float
    intersection: float  # estimated counts (exact for full masks)
    union: float
    subsampled: bool


def _stratum(a: MatrixMask, b: MatrixMask, key: str) -> tuple[np.ndarray, np.ndarray, int]:
    if a.shape != b.shape or not np.array_equal(a.rows, b.rows):
        raise ValueError(
            f"{key}: the two masks keep different rows or shapes; cells of one model must use "
            "the same mask row subset (same analysis.mask_rows)"
        )
    inter = (a.pruned & b.pruned).sum(axis=1).astype(np.float64)
    union = (a.pruned | b.pruned).sum(axis=1).astype(np.float64)
    return inter, union, a.shape[0]


def overlap(
    a: Mapping[str, MatrixMask], b: Mapping[str, MatrixMask], keys: Iterable[str]
) -> Overlap:
    """Jaccard of the pruned sets of `a` and `b` restricted to matrices `keys` (see module doc)."""
    strata = [_stratum(a[k], b[k], k) for k in keys]
    if not strata:
        return Overlap(float("nan"), float("nan"), 0.0, 0.0, False)
    i_hat = sum(n_rows / len(i) * i.sum() for i, _, n_rows in strata)
    u_hat = sum(n_rows / len(u) * u.sum() for _, u, n_rows in strata)
    subsampled = any(len(i) < n_rows for i, _, n_rows in strata)
    if u_hat == 0:
        return Overlap(1.0, 0.0, 0.0, 0.0, subsampled)
    j = i_hat / u_hat
    var = 0.0
    for inter, union, n_rows in strata:
        n = len(inter)
        if n < n_rows and n > 1:
            d = inter - j * union
            var += n_rows**2 * (1 - n / n_rows) * d.var(ddof=1) / n
    return Overlap(float(j), float(np.sqrt(var) / u_hat), float(i_hat), float(u_hat), subsampled)


def layer_of(key: str) -> int:
    return int(key.split(".", 1)[0])


def overlap_rows(
    a: Mapping[str, MatrixMask], b: Mapping[str, MatrixMask]
) -> list[dict[str, object]]:
    """Overlap overall, per layer and per module type: rows {scope, key, jaccard, stderr, ...}."""
    if set(a) != set(b):
        missing = sorted(set(a) ^ set(b))[:3]
        raise ValueError(f"the two mask files cover different matrices (e.g. {missing})")
    keys = sorted(a, key=lambda k: (layer_of(k), k))
    groups: list[tuple[str, str, list[str]]] = [("all", "all", keys)]
    for layer in sorted({layer_of(k) for k in keys}):
        groups.append(("layer", str(layer), [k for k in keys if layer_of(k) == layer]))
    types = sorted({module_type(k.split(".", 1)[1]) for k in keys}, key=module_order)
    for t in types:
        groups.append(("module", t, [k for k in keys if module_type(k.split(".", 1)[1]) == t]))
    out: list[dict[str, object]] = []
    for scope, key, members in groups:
        o = overlap(a, b, members)
        out.append(
            {
                "scope": scope,
                "key": key,
                "jaccard": o.jaccard,
                "stderr": o.stderr,
                "intersection": o.intersection,
                "union": o.union,
                "subsampled": o.subsampled,
            }
        )
    return out


def module_order(t: str) -> tuple[int, str]:
    """Sort key of a module type: q, k, v, o, gate, up, down, then any other by name."""
    return (MODULE_TYPES.index(t) if t in MODULE_TYPES else len(MODULE_TYPES), t)
