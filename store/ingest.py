"""Ingest run directories into the results database: idempotent by run id, incremental, bulk.

1. Scan the run dirs and stat spec.json, status.json and metrics.jsonl (no lock, no DuckDB).
2. Read what the database last saw of each run (a short read-only connection).
3. Read spec.json and status.json of the runs that changed, still without holding the database.
4. Replace those runs' rows in one transaction per batch of runs (a short writable connection),
   DuckDB reading and parsing their metrics.jsonl files itself (in bulk, in C++: 1M rows take
   seconds, not a minute of Python). Files are only read, never locked, so a worker appending to
   them is never held up. A half-written last line of metrics.jsonl (no newline yet) is left out;
   since the file's size then differs from what is recorded, the run is read again once the line
   is complete. A run that another process ingested from newer files meanwhile is not overwritten
   with older ones.

Each run's metric rows are deduplicated by (kind, task, subtask, language, metric), the last line
winning, so a worker that re-evaluates after a retry replaces its earlier result instead of adding
a second one.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from langprune.cellid import cell_id
from langprune.store import fs, records, rundir
from langprune.store.db import connect, file_lock, lock_path
from langprune.store.errors import StoreBusy
from langprune.store.records import RunRecord, corpus_label
from langprune.store.records import as_float as _float
from langprune.store.records import as_int as _int
from langprune.workspace import db_path as default_db_path
from langprune.workspace import runs_dir

RUN_COLUMNS = (
    "id", "experiment", "model", "model_id", "method", "sparsity", "sparsity_fraction",
    "calibration_language", "corpus", "nsamples", "seqlen", "seed", "state", "queued_at",
    "started_at", "finished_at", "updated_at", "seconds_load", "seconds_calibration",
    "seconds_prune", "seconds_eval", "seconds_total", "achieved_sparsity", "host", "device", "pid",
    "worker", "job_id", "error", "versions", "spec", "eval_ppl", "eval_tasks", "cell_id",
    "n_metrics",  # last: the insert puts the count of metric rows there
)  # fmt: skip
METRIC_COLUMNS = (
    "run_id", "kind", "task", "subtask", "language", "metric", "value", "stderr", "n", "extra",
)  # fmt: skip
STATE_COLUMNS = (
    "run_id", "spec_sig", "status_sig", "metrics_sig", "status_mtime_ns", "metrics_mtime_ns",
    "ingested_at",
)  # fmt: skip


@dataclass
class IngestReport:
    """What one ingest did."""

    scanned: int = 0
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    metric_rows: int = 0
    skipped_lines: int = 0
    seconds: float = 0.0
    # run id -> why it is damaged ('<file>: <reason>'), for the runs read this time: they are
    # recorded as state 'damaged' (no metric of theirs is compared), the others go on
    damaged: dict[str, str] = field(default_factory=dict)

    @property
    def unchanged(self) -> int:
        return self.scanned - len(self.updated)


@dataclass(frozen=True)
class _Seen:
    """The stat signature of a run dir's three files: 'mtime_ns:size', or '' when missing."""

    spec: str
    status: str
    metrics: str
    status_mtime_ns: int
    metrics_mtime_ns: int


_UNREADABLE = "unreadable:"


def _sig(path: str) -> tuple[str, int]:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "", 0
    except OSError as exc:  # an unreadable run dir: read (and reported damaged) like any change
        return f"{_UNREADABLE}{exc.errno}", 0
    return f"{st.st_mtime_ns}:{st.st_size}", st.st_mtime_ns


def scan(runs_root: Path, known: dict[str, str] | None = None) -> dict[str, _Seen]:
    """Stat the files of every run dir (dirs being created, named '.<id>...', are skipped).

    `known` maps run ids already ingested to their spec.json signature: spec.json is written
    once, before its directory gets its final name, so it is not stat'ed again for those.
    """
    known = known or {}
    seen: dict[str, _Seen] = {}
    try:
        entries = list(os.scandir(runs_root))
    except FileNotFoundError:
        return seen
    for entry in entries:
        name = entry.name
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if name.startswith(".") or not is_dir:
            continue
        base = entry.path + os.sep
        spec = known.get(name) or _sig(base + "spec.json")[0]
        if not spec:
            continue
        status, status_mtime = _sig(base + "status.json")
        metrics, metrics_mtime = _sig(base + "metrics.jsonl")
        seen[name] = _Seen(spec, status, metrics, status_mtime, metrics_mtime)
    return seen


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _corpus_text(corpus: dict[str, Any] | None) -> str:
    """corpus_label, plus any option the label leaves out (so different corpora never match)."""
    label = corpus_label(corpus) or "?"
    options = (corpus or {}).get("options") or {}
    rest = {k: v for k, v in options.items() if k not in ("dataset", "name")}
    if options.get("dataset") and options.get("name"):
        rest["name"] = options["name"]  # the label shows only the dataset then
    if not rest:
        return label
    extra = ",".join(f"{k}={json.dumps(v, sort_keys=True)}" for k, v in sorted(rest.items()))
    return f"{label}[{extra}]"


def evaluation_keys(spec: dict[str, Any]) -> tuple[str | None, str | None]:
    """What a run's values depend on besides the model and pruning, per kind of metric.

    Perplexity: the evaluation corpus, seqlen and max_tokens, as 'corpus=... seqlen=...
    max_tokens=...'. Tasks: JSON {family: 'num_fewshot=N limit=L'} (entries of one family joined
    with ' | '). Two runs whose values may be averaged have equal keys; both are readable, since
    they are also the choices offered when a comparison would mix them.
    """
    ev = spec.get("evaluation")
    if not isinstance(ev, dict):
        return None, None
    ppl = (
        f"corpus={_corpus_text(ev.get('corpus'))} seqlen={ev.get('seqlen')} "
        f"max_tokens={ev.get('max_tokens')}"
    )
    families: dict[str, list[str]] = {}
    for task in ev.get("tasks") or []:
        if not isinstance(task, dict) or not task.get("family"):
            continue
        text = f"num_fewshot={task.get('num_fewshot', 0)} limit={task.get('limit')}"
        if text not in families.setdefault(str(task["family"]), []):
            families[str(task["family"])].append(text)
    tasks = {family: " | ".join(sorted(texts)) for family, texts in families.items()}
    return ppl, json.dumps(tasks, sort_keys=True)


def run_row(record: RunRecord, n_metrics: int) -> tuple:
    """One `runs` row from a run's record (store/records.py: the one reading of its files;
    absent values become NULL)."""
    spec, status = record.spec, record.status
    seconds = status.get("seconds") or {}
    finished = status.get(f"{record.state}_at") if record.state in rundir.FINAL_STATES else None
    eval_ppl, eval_tasks = evaluation_keys(spec)
    row = {
        "id": record.id,
        "experiment": record.experiment,
        "model": record.model if spec else None,
        "model_id": record.model_id if spec else None,
        "method": record.method,
        "sparsity": record.sparsity,
        "sparsity_fraction": record.sparsity_fraction,
        "calibration_language": record.calibration_language,
        "corpus": record.corpus,
        "nsamples": record.nsamples,
        "seqlen": record.seqlen,
        "seed": record.seed,
        "state": record.state,
        "queued_at": _float(status.get("queued_at")),
        "started_at": _float(status.get("running_at")),
        "finished_at": _float(finished),
        "updated_at": _float(status.get("updated_at")),
        "seconds_load": _float(seconds.get("load")),
        "seconds_calibration": _float(seconds.get("calibration")),
        "seconds_prune": _float(seconds.get("prune")),
        "seconds_eval": _float(seconds.get("eval")),
        "seconds_total": record.seconds_total,
        "achieved_sparsity": record.achieved,
        "host": record.host,
        "device": record.device,
        "pid": _int(status.get("pid")),
        "worker": _str(status.get("worker")),
        "job_id": _str(status.get("job_id")),
        "error": record.error,
        "versions": json.dumps(status["versions"]) if status.get("versions") else None,
        "spec": json.dumps(spec, sort_keys=True) if spec else None,
        "eval_ppl": eval_ppl,
        "eval_tasks": eval_tasks,
        "cell_id": cell_id(spec) if spec else None,
        "n_metrics": n_metrics,
    }
    return tuple(row[c] for c in RUN_COLUMNS)


@dataclass
class _Batch:
    records: list[RunRecord] = field(default_factory=list)
    states: list[tuple] = field(default_factory=list)
    metric_files: dict[str, str] = field(default_factory=dict)  # run id -> metrics.jsonl

    def mark_damaged(self, damaged: dict[str, str]) -> None:
        """Record these runs as damaged (their metric files are left out)."""
        for i, record in enumerate(self.records):
            if record.id in damaged:
                self.records[i] = records.from_files(
                    record.id, record.spec, dict(record.status), damage=damaged[record.id]
                )
                self.metric_files.pop(record.id, None)


def _read_runs(runs_root: Path, todo: dict[str, _Seen]) -> _Batch:
    """The records of the runs that changed, read per run: a run whose spec.json or status.json
    cannot be read is recorded as damaged, and the others go on."""
    batch = _Batch()
    now = time.time()
    for run_id, seen in todo.items():
        rd = rundir.RunDir(runs_root / run_id)
        if not rd.path.is_dir():
            continue  # vanished since the scan: the next one drops it
        status = rd.status()
        damage = rd.damage(status, metrics=False)  # metrics.jsonl: checked in bulk (_write)
        record = records.from_files(run_id, rd.read_spec(), status, damage=damage)
        batch.records.append(record)
        if seen.metrics and damage is None:
            batch.metric_files[run_id] = str(rd.metrics)
        batch.states.append(
            (run_id, seen.spec, seen.status, seen.metrics, seen.status_mtime_ns,
             seen.metrics_mtime_ns, now)
        )  # fmt: skip
    return batch


def _table(columns: tuple[str, ...], rows: list[tuple], types: dict[str, Any]) -> Any:
    """Rows as an Arrow table DuckDB can scan in bulk (with the types stated, as NULLs need it)."""
    import pyarrow as pa

    cols = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    return pa.table(
        {name: pa.array(values, type=types.get(name, pa.string())) for name, values in
         zip(columns, cols, strict=True)}
    )  # fmt: skip


def _arrow_types() -> tuple[dict[str, Any], dict[str, Any]]:
    import pyarrow as pa

    f, i, big = pa.float64(), pa.int64(), pa.int64()  # the columns are BIGINT (schema version 5)
    runs = {c: f for c in RUN_COLUMNS if c.endswith("_at") or c.startswith("seconds_")}
    runs.update(sparsity_fraction=f, achieved_sparsity=f, nsamples=i, seqlen=i, seed=i, pid=i,
                n_metrics=i)  # fmt: skip
    states = {"status_mtime_ns": big, "metrics_mtime_ns": big, "ingested_at": f}
    return runs, states


# Every line of the files, numbered: the last element after the final newline is either empty
# or a line still being written, and is dropped either way (as rundir.read_jsonl does); whether it
# was there is kept (torn) so that a finished run's cut-off last line is reported, not dropped.
_FILES_SQL = r"""
CREATE TEMP TABLE files_t AS
SELECT regexp_extract(filename, '([^/]+)/metrics\.jsonl$', 1) AS run_id,
       string_split(content, chr(10)) AS parts
FROM read_text(?)
"""
_LINES_SQL = """
CREATE TEMP TABLE lines_t AS
WITH numbered AS (
    SELECT run_id, unnest(parts[:-2]) AS line, generate_subscripts(parts[:-2], 1) AS idx
    FROM files_t
)
SELECT run_id, idx, line FROM numbered WHERE trim(line) <> ''
"""
# Per file: the first whole line that is not a JSON object (garbled), and a cut-off last line.
_DAMAGE_SQL = """
SELECT f.run_id, trim(f.parts[-1]) <> '' AS torn, b.first_bad
FROM files_t f LEFT JOIN (
    SELECT run_id, min(idx) AS first_bad FROM lines_t
    WHERE NOT CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE FALSE END
    GROUP BY run_id
) b ON b.run_id = f.run_id
WHERE b.first_bad IS NOT NULL OR trim(f.parts[-1]) <> ''
"""
_ROW_TYPE = json.dumps(
    {"kind": "VARCHAR", "task": "VARCHAR", "subtask": "VARCHAR", "language": "VARCHAR",
     "metric": "VARCHAR", "value": "DOUBLE", "stderr": "DOUBLE", "n": "BIGINT", "extra": "JSON"}
)  # fmt: skip
# Usable records: a JSON object with a string metric and a numeric value (NaN becomes NULL).
_ACCEPTED_SQL = f"""
CREATE TEMP TABLE accepted_t AS
WITH valid AS (
    SELECT * FROM lines_t WHERE json_valid(line) AND json_type(line) = 'OBJECT'
), parsed AS (
    SELECT run_id, idx, json_transform(line, '{_ROW_TYPE}') AS r,
           json_type(line, '$.metric') AS metric_type, json_type(line, '$.value') AS value_type
    FROM valid
)
SELECT run_id, idx, r.kind, r.task, r.subtask, r.language, r.metric,
       CASE WHEN isnan(r.value) THEN NULL ELSE r.value END AS value,
       CASE WHEN isnan(r.stderr) THEN NULL ELSE r.stderr END AS stderr,
       r.n, CASE WHEN json_type(r.extra) = 'NULL' THEN NULL ELSE r.extra::VARCHAR END AS extra
FROM parsed
WHERE metric_type = 'VARCHAR' AND value_type IN ('DOUBLE', 'BIGINT', 'UBIGINT')
"""
_EMPTY_ACCEPTED_SQL = """
CREATE TEMP TABLE accepted_t AS
SELECT NULL::VARCHAR AS run_id, 0::BIGINT AS idx, m.* EXCLUDE (run_id) FROM metrics m LIMIT 0
"""
# The last line wins per result key, so a re-evaluation after a retry replaces the earlier value.
_INSERT_METRICS_SQL = f"""
INSERT INTO metrics ({", ".join(METRIC_COLUMNS)})
SELECT {", ".join(METRIC_COLUMNS)} FROM accepted_t
WHERE run_id IN (SELECT id FROM runs_t)
QUALIFY row_number() OVER (
    PARTITION BY run_id, kind, task, subtask, language, metric ORDER BY idx DESC) = 1
ORDER BY metric, run_id  -- clustered by metric, so a comparison skips other metrics' row groups
"""
_INSERT_RUNS_SQL = f"""
INSERT INTO runs ({", ".join(RUN_COLUMNS)})
SELECT r.* EXCLUDE (n_metrics), coalesce(c.n, 0)
FROM runs_t r LEFT JOIN (
    SELECT run_id, count(*) AS n FROM metrics WHERE run_id IN (SELECT id FROM runs_t)
    GROUP BY run_id
) c ON c.run_id = r.id
"""


def _unreadable(con: duckdb.DuckDBPyConnection, files: list[str]) -> dict[str, str]:
    """The files DuckDB cannot read (gone, unreadable, not UTF-8), each with the reason."""
    bad = {}
    for f in files:
        try:
            con.execute("SELECT length(content) FROM read_text(?)", [f]).fetchall()
        except duckdb.Error as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            bad[f] = (
                "is not UTF-8 text (garbled)" if "UTF-8" in text else f"cannot be read ({text})"
            )
    return bad


def _parse_metrics(
    con: duckdb.DuckDBPyConnection, files: list[str], finished: set[str]
) -> tuple[int, dict[str, str]]:
    """Load metric files into the temp table accepted_t. Returns the number of unusable lines
    and the damaged runs (run id -> why): a garbled line, a file that cannot be read, or a
    cut-off last line of a run in `finished` (for a running one it is still being written)."""
    if not files:
        con.execute(_EMPTY_ACCEPTED_SQL)
        return 0, {}
    damaged: dict[str, str] = {}
    for _ in range(3):
        try:
            con.execute(_FILES_SQL, [files])
            break
        except duckdb.Error:
            # One file DuckDB cannot read must not hide the others: find it and leave it out.
            # A run dir removed since the scan is simply dropped (the next ingest drops the run).
            bad = _unreadable(con, files)
            for f, why in bad.items():
                if os.path.exists(os.path.dirname(f)):
                    damaged[Path(f).parent.name] = f"{f}: {why}"
            files = [f for f in files if f not in bad]
    else:
        con.execute(_FILES_SQL, [files])
    con.execute(_LINES_SQL)
    by_id = {Path(f).parent.name: f for f in files}
    for run_id, torn, first_bad in con.execute(_DAMAGE_SQL).fetchall():
        path = by_id.get(run_id, f"{run_id}/metrics.jsonl")
        if first_bad is not None:
            damaged[run_id] = (
                f"{path}: line {first_bad} is not a JSON record (truncated or garbled)"
            )
        elif torn and run_id in finished:
            damaged[run_id] = f"{path}: the last line was cut off (no newline): truncated"
    con.execute("DROP TABLE files_t")
    con.execute(_ACCEPTED_SQL)
    if damaged:  # a damaged run's values are never compared: none of its rows go in
        con.execute("DELETE FROM accepted_t WHERE run_id IN (SELECT unnest(?))", [sorted(damaged)])
    total = con.execute("SELECT count(*) FROM lines_t").fetchone()
    accepted = con.execute("SELECT count(*) FROM accepted_t").fetchone()
    con.execute("DROP TABLE lines_t")
    return int(total[0] if total else 0) - int(accepted[0] if accepted else 0), damaged


def _write(
    con: duckdb.DuckDBPyConnection, batch: _Batch, removed: list[str]
) -> tuple[list[str], int, int, dict[str, str]]:
    """Replace the batch's runs in one transaction.

    Returns the ids written (updated and removed), the metric rows inserted, the unusable lines
    skipped and the damaged runs (id -> why). A run whose recorded files are newer than the ones
    read here (another process got there first) is left alone.
    """
    recorded = {
        r[0]: (r[1], r[2])
        for r in con.execute(
            "SELECT run_id, status_mtime_ns, metrics_mtime_ns FROM ingest_state"
        ).fetchall()
    }
    keep = set()
    for st in batch.states:
        old = recorded.get(st[0])
        unreadable = str(st[2]).startswith(_UNREADABLE)  # no mtime to compare: it is news
        if old is None or unreadable or (st[4] >= (old[0] or 0) and st[5] >= (old[1] or 0)):
            keep.add(st[0])
    ids = sorted(keep | set(removed))
    if not ids:
        return [], 0, 0, {}
    run_types, state_types = _arrow_types()
    try:
        files = [f for rid, f in sorted(batch.metric_files.items()) if rid in keep]
        finished = {r.id for r in batch.records if r.state in rundir.FINAL_STATES}
        skipped, damaged = _parse_metrics(con, files, finished)
        batch.mark_damaged(damaged)
        rows = [run_row(r, 0) for r in batch.records if r.id in keep]
        con.register("ids_t", _table(("id",), [(i,) for i in ids], {}))
        con.register("runs_t", _table(RUN_COLUMNS, rows, run_types))
        con.register(
            "states_t",
            _table(STATE_COLUMNS, [s for s in batch.states if s[0] in keep], state_types),
        )
        con.execute("BEGIN TRANSACTION")
        try:
            for table, key in (("metrics", "run_id"), ("runs", "id"), ("ingest_state", "run_id")):
                con.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT id FROM ids_t)")
            row = con.execute(_INSERT_METRICS_SQL).fetchone()
            con.execute(_INSERT_RUNS_SQL)
            con.execute(
                f"INSERT INTO ingest_state ({', '.join(STATE_COLUMNS)}) SELECT * FROM states_t"
            )
            con.execute("DELETE FROM experiments")
            con.execute(
                "INSERT INTO experiments SELECT experiment, count(*), min(queued_at), "
                "max(updated_at) FROM runs GROUP BY experiment"
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute("DROP TABLE IF EXISTS temp.accepted_t")
        con.execute("DROP TABLE IF EXISTS temp.lines_t")
        con.execute("DROP TABLE IF EXISTS temp.files_t")
        for name in ("ids_t", "runs_t", "states_t"):
            con.unregister(name)
    damaged_here = {r.id: str(r.error).removeprefix("damaged: ") for r in batch.records
                    if r.id in keep and r.state == rundir.DAMAGED}  # fmt: skip
    return ids, int(row[0]) if row else 0, skipped, damaged_here


# Runs written per transaction: bounds memory and lets other processes in between batches.
BATCH_RUNS = 2500


def ingest(workspace: Path, *, db_path: Path | None = None, timeout: float = 120.0) -> IngestReport:
    """Bring the database up to date with the run dirs of `workspace` (cheap when nothing changed)."""
    t0 = time.perf_counter()
    db = db_path or default_db_path(workspace)
    root = runs_dir(workspace)
    clean_stale_rebuilds(db)  # full-size copies left by killed rebuilds
    with connect(db, read_only=True, timeout=timeout) as con:
        recorded = {
            r[0]: (r[1], r[2], r[3])
            for r in con.execute(
                "SELECT run_id, spec_sig, status_sig, metrics_sig FROM ingest_state"
            ).fetchall()
        }
    seen = scan(root, {rid: sigs[0] for rid, sigs in recorded.items()})
    report = IngestReport(scanned=len(seen))
    todo = {rid: s for rid, s in seen.items() if recorded.get(rid) != (s.spec, s.status, s.metrics)}
    removed = sorted(set(recorded) - set(seen))
    ids = sorted(todo)
    for start in range(0, max(len(ids), 1 if removed else 0), BATCH_RUNS):
        part = {rid: todo[rid] for rid in ids[start : start + BATCH_RUNS]}
        batch = _read_runs(root, part)
        with connect(db, timeout=timeout) as con:
            written, inserted, skipped, damaged = _write(con, batch, removed if start == 0 else [])
        report.damaged.update(damaged)
        report.updated += [r for r in written if r in part]
        report.removed += [r for r in written if r not in part]
        report.metric_rows += inserted
        report.skipped_lines += skipped
    if report.updated or report.removed:
        from langprune.store.analysis import sync

        with connect(db, timeout=timeout) as con:
            # a damaged run's analyses go with its metrics (removed until it is repaired)
            good = [r for r in report.updated if r not in report.damaged]
            sync(con, root, good, report.removed + sorted(report.damaged))
    report.seconds = time.perf_counter() - t0
    return report


def _rebuild_files(db: Path, tag: str) -> list[Path]:
    tmp = db.with_name(f".{db.name}.rebuild-{tag}")
    return [tmp, tmp.with_name(tmp.name + ".wal"), lock_path(tmp), _owner(tmp)]


def _owner(tmp: Path) -> Path:
    """The lock a rebuild holds on its temporary database for as long as it runs."""
    return tmp.with_name(tmp.name + ".owner")


def clean_stale_rebuilds(db: Path) -> list[Path]:
    """Remove the temporary copies of rebuilds that were killed (their owner lock is free: the
    kernel drops it when the process dies); returns what was removed."""
    prefix = f".{db.name}.rebuild-"
    try:
        names = os.listdir(db.parent)
    except OSError:
        return []
    tags = {n[len(prefix) :].split(".", 1)[0] for n in names if n.startswith(prefix)}
    removed = []
    for tag in sorted(tags):
        files = _rebuild_files(db, tag)
        if fs.lock_is_held(files[-1]):
            continue  # a rebuild is running
        for f in files:
            try:
                f.unlink()
                removed.append(f)
            except FileNotFoundError:
                pass
    return removed


def rebuild(
    workspace: Path, *, db_path: Path | None = None, timeout: float = 120.0
) -> IngestReport:
    """Recreate the database from the run dirs alone.

    The new database is built in a temporary file next to the old one and renamed over it, so a
    crash at any point leaves either the old database or the new one, never neither. The rebuild
    holds a lock on its temporary file for as long as it runs, so that the copies of killed
    rebuilds (their lock is free) are recognised and removed (`clean_stale_rebuilds`).
    """
    db = db_path or default_db_path(workspace)
    clean_stale_rebuilds(db)
    tmp, wal, tmp_lock, owner = _rebuild_files(db, str(os.getpid()))
    with fs.lock(owner) as held:
        if held is None:  # another thread of this process is rebuilding: wait for it
            raise StoreBusy(f"a rebuild of {db} is already running in this process")
        for stale in (tmp, wal):
            stale.unlink(missing_ok=True)
        try:
            report = ingest(workspace, db_path=tmp, timeout=timeout)
            with file_lock(lock_path(db), shared=False, timeout=timeout):
                # A WAL left by a crashed writer belongs to the old file; replaying it into the
                # new one would corrupt it. Its rows are in the run dirs, so the rebuild has them.
                db.with_name(db.name + ".wal").unlink(missing_ok=True)
                os.replace(tmp, db)
        finally:
            for leftover in (tmp, wal, tmp_lock, owner):
                leftover.unlink(missing_ok=True)
    return report
