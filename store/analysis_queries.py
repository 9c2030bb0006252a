"""The analysis views the CLI and the TUI share (no torch): matrices and per-layer profiles.

Each view is one `Matrix` per (model, method, sparsity) group left after the filters:
- masks:   rows = columns = calibration language; cell = mean Jaccard of the pruned sets over the
           pairs of runs (one per language; different seeds only on the diagonal), `spread` = the
           mean of the pairs' stderr (row-subsample error; 0 for full masks), n = pairs. The
           diagonal is the noise floor: runs calibrated in one language with different seeds.
           `profile`: the same per layer, as rows 'across languages' and 'same language, seeds';
           then per module type (q, k, v, o, gate, up, down) with the same rows.
- neurons: rows = calibration language, columns = neuron language; cell = mean over seeds of
           the share of that language's LAPE neurons' weights kept (`kept`), spread = std.
- drift:   rows = calibration language x evaluation language ('de@en' = calibrated in de,
           evaluated in en), columns = decoder layer; cell = mean relative error over seeds.
- owl:     rows = calibration language, columns = decoder layer; cell = mean over seeds of the
           layer's OWL sparsity (an *_owl method's allocation), then the same for its outlier
           ratio (percent of scores above m x the layer mean), spread = std.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langprune.store.db import connect
from langprune.store.errors import StoreError
from langprune.store.ingest import ingest
from langprune.store.masks import module_order
from langprune.workspace import db_path as default_db_path

Kind = Literal["masks", "neurons", "drift", "owl"]
KINDS: tuple[str, ...] = ("masks", "neurons", "drift", "owl")


@dataclass(frozen=True)
class Cell:
    mean: float
    spread: float  # see the module docstring per view
    n: int


@dataclass
class Matrix:
    """One heat-shadeable table: cells[(row, col)]."""

    title: str
    row_label: str
    col_label: str
    rows: list[str]
    cols: list[str]
    cells: dict[tuple[str, str], Cell]
    group: dict[str, str | None] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        return [
            {**self.group, "row": r, "col": c, "mean": v.mean, "spread": v.spread, "n": v.n}
            for r in self.rows
            for c in self.cols
            if (v := self.cells.get((r, c))) is not None
        ]


def _cell(values: list[float], spreads: list[float] | None = None) -> Cell:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return Cell(math.nan, math.nan, 0)
    if spreads is not None:
        spread = statistics.fmean(spreads) if spreads else 0.0
    else:
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return Cell(statistics.fmean(values), spread, len(values))


def _where(
    model: str | None, method: str | None, sparsity: str | None, alias: str
) -> tuple[str, list[Any]]:
    parts, params = ["TRUE"], []
    if model is not None:
        parts.append(f"({alias}.model = ? OR {alias}.model_id = ?)")
        params += [model, model]
    if method is not None:
        parts.append(f"{alias}.method = ?")
        params.append(method)
    if sparsity is not None:
        parts.append(f"{alias}.sparsity = ?")
        params.append(sparsity)
    return " AND ".join(parts), params


def _lang_order(langs: Iterable[str]) -> list[str]:
    return sorted(set(langs))


def analysis(
    workspace: Path,
    kind: str,
    *,
    model: str | None = None,
    method: str | None = None,
    sparsity: str | float | None = None,
    refresh: bool = True,
    db_path: Path | None = None,
) -> list[Matrix]:
    """The matrices of one analysis view (module docstring), one per model/method/sparsity group;
    for masks, each group's matrix is followed by its per-layer profile and its per-module-type
    one (q, k, v, o, gate, up, down)."""
    if kind not in KINDS:
        close = [k for k in KINDS if k.startswith(kind[:1])]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise StoreError(f"analysis: unknown view {kind!r} (allowed: {', '.join(KINDS)}){hint}")
    from langprune.store.queries import _sparsity

    level = _sparsity(sparsity)
    if refresh:
        ingest(workspace, db_path=db_path)
    db = db_path or default_db_path(workspace)
    with connect(db, read_only=True) as con:
        if kind == "masks":
            where, params = _where(model, method, level, "a")
            rows = con.execute(
                f"""SELECT a.model, a.method, a.sparsity, a.calibration_language,
                       b.calibration_language, a.seed, b.seed, o.scope, o.key, o.jaccard, o.stderr
                FROM mask_overlap o JOIN runs a ON a.id = o.run_a JOIN runs b ON b.id = o.run_b
                WHERE {where} ORDER BY 1, 2, 3""",
                params,
            ).fetchall()
            return _masks(rows)
        where, params = _where(model, method, level, "r")
        if kind == "owl":
            rows = con.execute(
                f"""SELECT r.model, r.method, r.sparsity, r.calibration_language, x.metric,
                       x.layer, x.value
                FROM analysis x JOIN runs r ON r.id = x.run_id
                WHERE x.analysis = 'owl' AND {where} ORDER BY 1, 2, 3""",
                params,
            ).fetchall()
            return _owl(rows)
        metric = "kept" if kind == "neurons" else "rel_error"
        layer_sql = "x.layer IS NULL" if kind == "neurons" else "x.layer IS NOT NULL"
        rows = con.execute(
            f"""SELECT r.model, r.method, r.sparsity, r.calibration_language, x.language,
                   x.layer, x.value
            FROM analysis x JOIN runs r ON r.id = x.run_id
            WHERE x.analysis = ? AND x.metric = ? AND {layer_sql} AND {where}
            ORDER BY 1, 2, 3""",
            [kind, metric, *params],
        ).fetchall()
    return _neurons(rows) if kind == "neurons" else _drift(rows)


def _groups(rows: list[tuple[Any, ...]]) -> dict[tuple[Any, Any, Any], list[tuple[Any, ...]]]:
    out: dict[tuple[Any, Any, Any], list[tuple[Any, ...]]] = {}
    for r in rows:
        out.setdefault((r[0], r[1], r[2]), []).append(r)
    return out


def _group(key: tuple[Any, Any, Any]) -> dict[str, str | None]:
    return {"model": key[0], "method": key[1], "sparsity": key[2]}


def _masks(rows: list[tuple[Any, ...]]) -> list[Matrix]:
    out = []
    for key, members in _groups(rows).items():
        pairs: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        layers: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        modules: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        for _, _, _, la, lb, sa, sb, scope, k, jac, se in members:
            if la == lb and sa == sb:
                continue  # one cell evaluated from two presets: the same mask, no seed noise
            if scope == "all":
                for cell in {(la, lb), (lb, la)}:
                    pairs.setdefault(cell, ([], []))
                    pairs[cell][0].append(jac)
                    pairs[cell][1].append(se or 0.0)
            elif scope in ("layer", "module"):
                row = "same language, seeds" if la == lb else "across languages"
                into = layers if scope == "layer" else modules
                into.setdefault((row, k), ([], []))
                into[(row, k)][0].append(jac)
                into[(row, k)][1].append(se or 0.0)
        langs = _lang_order([c[0] for c in pairs])
        out.append(
            Matrix(
                "mask overlap (Jaccard of pruned weights; diagonal = noise floor between seeds)",
                "calibration",
                "calibration",
                langs,
                langs,
                {c: _cell(v, s) for c, (v, s) in pairs.items()},
                _group(key),
            )
        )
        out.append(_pairs_profile("mask overlap per layer", "layer", layers, int, key))
        if modules:
            out.append(
                _pairs_profile("mask overlap per module type", "module", modules, module_order, key)
            )
    return out


PAIR_ROWS = ("across languages", "same language, seeds")


def _pairs_profile(
    title: str,
    col_label: str,
    values: dict[tuple[str, str], tuple[list[float], list[float]]],
    order: Callable[[str], Any],
    key: tuple[Any, ...],
) -> Matrix:
    """A profile of mask overlaps: rows across languages / between seeds, one column per `key`
    of the scope (a layer, a module type), cells = mean Jaccard with the mean stderr."""
    return Matrix(
        title,
        "pairs",
        col_label,
        [r for r in PAIR_ROWS if any(c[0] == r for c in values)],
        sorted({c[1] for c in values}, key=order),
        {c: _cell(v, s) for c, (v, s) in values.items()},
        _group(key),
    )


def _neurons(rows: list[tuple[Any, ...]]) -> list[Matrix]:
    out = []
    for key, members in _groups(rows).items():
        vals: dict[tuple[str, str], list[float]] = {}
        for *_, cal, lang, _layer, value in members:
            vals.setdefault((cal, lang), []).append(value)
        out.append(
            Matrix(
                "share of LAPE language-specific neurons' weights kept",
                "calibration",
                "neurons of",
                _lang_order(c[0] for c in vals),
                _lang_order(c[1] for c in vals),
                {c: _cell(v) for c, v in vals.items()},
                _group(key),
            )
        )
    return out


def _drift(rows: list[tuple[Any, ...]]) -> list[Matrix]:
    out = []
    for key, members in _groups(rows).items():
        vals: dict[tuple[str, str], list[float]] = {}
        for *_, cal, lang, layer, value in members:
            vals.setdefault((f"{cal}@{lang}", str(layer)), []).append(value)
        out.append(
            Matrix(
                "layer drift: relative error of layer outputs vs dense (calibration@evaluation)",
                "calibration@eval",
                "layer",
                sorted({c[0] for c in vals}),
                sorted({c[1] for c in vals}, key=int),
                {c: _cell(v) for c, v in vals.items()},
                _group(key),
            )
        )
    return out


_OWL_TITLES = {
    "layer_sparsity": "OWL layer sparsity by calibration language",
    "outlier_pct": "OWL outlier ratio (% of scores above m x layer mean) by calibration language",
}


def _owl(rows: list[tuple[Any, ...]]) -> list[Matrix]:
    out = []
    for key, members in _groups(rows).items():
        for metric, title in _OWL_TITLES.items():
            vals: dict[tuple[str, str], list[float]] = {}
            for *_, cal, m, layer, value in members:
                if m == metric:
                    vals.setdefault((str(cal), str(layer)), []).append(value)
            if vals:
                out.append(
                    Matrix(
                        title,
                        "calibration",
                        "layer",
                        _lang_order(c[0] for c in vals),
                        sorted({c[1] for c in vals}, key=int),
                        {c: _cell(v) for c, v in vals.items()},
                        _group(key),
                    )
                )
    return out


# shown to 3 decimals: a spread below half of the last digit is said once, not in every cell
SHOWN_RESOLUTION = 0.0005


def _shown_spread(cell: Cell) -> bool:
    """Whether a cell prints its ±: not when it would round to ±0.000 (a line says so)."""
    return bool(cell.spread) and not math.isnan(cell.spread) and cell.spread >= SHOWN_RESOLUTION


def _fmt(cell: Cell | None) -> str:
    if cell is None or cell.n == 0:
        return "-"
    return f"{cell.mean:.3f}" + (f" ±{cell.spread:.3f}" if _shown_spread(cell) else "")


def _spread_note(m: Matrix) -> str:
    """The line under a matrix some of whose ± parts round to 0.000 and so are left out."""
    hidden = [
        c for c in m.cells.values() if c.n and c.spread and not _shown_spread(c)
    ]  # fmt: skip
    if not hidden:
        return ""
    where = "every cell" if len(hidden) == len(m.cells) else "cells without one"
    return f"± below {SHOWN_RESOLUTION} in {where}: not shown"


def _esc(s: str) -> str:
    return s.replace("\\", "\\textbackslash{}").replace("_", "\\_").replace("±", "$\\pm$")


def _head(m: Matrix) -> str:
    g = ", ".join(f"{k}={v}" for k, v in m.group.items())
    return f"{m.title} [{g}]"


def render(matrices: list[Matrix], fmt: str) -> str:
    """Text of the matrices: table (plain aligned), csv, json, md or latex."""
    if fmt == "json":
        return json.dumps(
            [{"title": m.title, **m.group, "cells": m.records()} for m in matrices], indent=1
        )
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["view", "model", "method", "sparsity", "row", "col", "mean", "spread", "n"])
        for m in matrices:
            for r in m.records():
                w.writerow([m.title, r["model"], r["method"], r["sparsity"], r["row"], r["col"],
                            r["mean"], r["spread"], r["n"]])  # fmt: skip
        return buf.getvalue()
    parts = []
    for m in matrices:
        header = [f"{m.row_label} \\ {m.col_label}", *m.cols]
        body = [[r, *(_fmt(m.cells.get((r, c))) for c in m.cols)] for r in m.rows]
        note = _spread_note(m)
        if fmt == "md":
            lines = [f"**{_head(m)}**", "", "| " + " | ".join(header) + " |",
                     "|" + "---|" * len(header)]  # fmt: skip
            lines += ["| " + " | ".join(row) + " |" for row in body]
            lines += ["", note] if note else []
        elif fmt == "latex":
            lines = [f"% {_head(m)}", "\\begin{tabular}{l" + "r" * len(m.cols) + "}", "\\toprule",
                     " & ".join(_esc(h) for h in header) + " \\\\", "\\midrule"]  # fmt: skip
            lines += [" & ".join(_esc(c) for c in row) + " \\\\" for row in body]
            lines += ["\\bottomrule", "\\end{tabular}"]
            lines += [f"% {note}"] if note else []
        elif fmt == "table":
            widths = [max(len(str(x[i])) for x in [header, *body]) for i in range(len(header))]
            lines = [_head(m)] + [
                "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                          for i, (c, w) in enumerate(zip(row, widths, strict=True)))
                for row in [header, *body]
            ]  # fmt: skip
            lines += [note] if note else []
        else:
            raise StoreError(f"--format {fmt!r}: allowed: table, csv, json, md, latex")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
