"""Analysis results in the database, rebuilt from run dirs like everything else (numpy + DuckDB).

Tables (schema version 6):
  analysis      one row per figure of a run's analysis.jsonl (drift per layer, LAPE neuron rows),
                and the OWL allocation of an *_owl run from its status.json (analysis 'owl',
                language = calibration language, one row per layer and metric 'layer_sparsity' |
                'outlier_pct');
  masks         one row per run with a masks.npz: its row fraction (NULL = full) and size;
  mask_overlap  one row per (pair of runs, scope, key): the Jaccard index of their pruned sets and
                its standard error (store/masks.py), for every pair of runs of one model
                (model_id), method and sparsity that both have masks; run_a < run_b.

`sync` is called by ingest with the runs it updated or removed: their rows are replaced, and the
overlaps of each updated run with every other run of its group are recomputed from the files.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb

from langprune.store import rundir
from langprune.store.masks import overlap_rows, read_masks

ANALYSIS_COLUMNS = ("run_id", "analysis", "language", "layer", "module", "metric", "value", "n")
OVERLAP_COLUMNS = (
    "run_a", "run_b", "scope", "key", "jaccard", "stderr", "intersection", "union_", "subsampled",
)  # fmt: skip


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def analysis_rows(run_id: str, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Usable rows of analysis.jsonl (a string analysis and metric); others are left out."""
    out = []
    for r in rows:
        if not isinstance(r.get("analysis"), str) or not isinstance(r.get("metric"), str):
            continue
        out.append(
            (
                run_id,
                r["analysis"],
                r.get("language"),
                _int(r.get("layer")),
                r.get("module"),
                r["metric"],
                _num(r.get("value")),
                _int(r.get("n")),
            )
        )
    return out


def owl_rows(run_id: str, language: str | None, owl: Any) -> list[tuple[Any, ...]]:
    """The rows of an OWL allocation as status.json holds it ({"m", "lam", "outlier_pct",
    "layer_sparsity"}: lists by decoder layer); nothing for a run without one."""
    if not isinstance(owl, dict):
        return []
    out = []
    for metric in ("layer_sparsity", "outlier_pct"):
        values = owl.get(metric)
        if isinstance(values, list):
            out += [
                (run_id, "owl", language, layer, None, metric, _num(v), None)
                for layer, v in enumerate(values)
            ]
    return out


def sync(
    con: duckdb.DuckDBPyConnection, runs_root: Path, updated: list[str], removed: list[str]
) -> int:
    """Replace the analysis rows of `updated` and `removed` runs; returns overlap rows written."""
    changed = sorted(set(updated) | set(removed))
    if not changed:
        return 0
    params = [changed]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM analysis WHERE list_contains(?, run_id)", params)
        con.execute("DELETE FROM masks WHERE list_contains(?, run_id)", params)
        con.execute(
            "DELETE FROM mask_overlap WHERE list_contains(?, run_a) OR list_contains(?, run_b)",
            [changed, changed],
        )
        for run_id in sorted(set(updated)):
            rd = rundir.RunDir(runs_root / run_id)
            try:
                rows = analysis_rows(run_id, rd.read_analysis())
            except OSError:
                continue  # unreadable since the run was read: the next ingest reports it
            spec = rd.read_spec() or {}
            rows += owl_rows(run_id, spec.get("calibration_language"), rd.status().get("owl"))
            if rows:
                con.executemany(
                    f"INSERT INTO analysis VALUES ({', '.join('?' * len(ANALYSIS_COLUMNS))})", rows
                )
            if rd.masks.is_file():
                try:
                    _, meta = read_masks(rd.masks)
                except (ValueError, OSError):
                    continue  # an unreadable mask file is left out, as a torn metric line is
                con.execute(
                    "INSERT INTO masks VALUES (?, ?, ?, ?)",
                    [
                        run_id,
                        str(rd.masks),
                        _num(meta.get("row_fraction")),
                        rd.masks.stat().st_size,
                    ],
                )
        written = _overlaps(con, runs_root, sorted(set(updated)))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return written


def _overlaps(con: duckdb.DuckDBPyConnection, runs_root: Path, updated: list[str]) -> int:
    if not updated:
        return 0
    pairs = con.execute(
        """SELECT DISTINCT least(a.id, b.id), greatest(a.id, b.id)
        FROM runs a JOIN runs b ON a.model_id = b.model_id AND a.method = b.method
             AND a.sparsity = b.sparsity AND a.id <> b.id
        JOIN masks ma ON ma.run_id = a.id JOIN masks mb ON mb.run_id = b.id
        WHERE list_contains(?, a.id) ORDER BY 1, 2""",
        [updated],
    ).fetchall()
    cache: dict[str, Any] = {}

    def load(run_id: str) -> Any:
        if run_id not in cache:
            cache[run_id] = read_masks(rundir.RunDir(runs_root / run_id).masks)[0]
        return cache[run_id]

    out = []
    for a, b in pairs:
        try:
            rows = overlap_rows(load(a), load(b))
        except ValueError:
            continue  # different row subsets or matrices: not comparable, nothing stored
        for r in rows:
            out.append(
                (a, b, r["scope"], r["key"], _num(r["jaccard"]), _num(r["stderr"]),
                 r["intersection"], r["union"], bool(r["subsampled"]))
            )  # fmt: skip
    if out:
        con.executemany(
            f"INSERT INTO mask_overlap VALUES ({', '.join('?' * len(OVERLAP_COLUMNS))})", out
        )
    return len(out)
