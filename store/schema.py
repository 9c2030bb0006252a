"""The results database schema, versioned, with the migrations that lead to the current version.

Each migration is a list of statements applied in one transaction; `schema_version` records which
versions a database has. A database written by a newer langprune is refused (never downgraded):
`langprune store rebuild` recreates it from the run directories.
"""

from __future__ import annotations

import time

import duckdb

from langprune.store.errors import StoreError

# Version 1: the first release.
_V1 = [
    """CREATE TABLE experiments (
        name VARCHAR,          -- experiment name as written in the runs' spec.json
        n_runs INTEGER,
        first_queued_at DOUBLE,
        last_updated_at DOUBLE
    )""",
    """CREATE TABLE runs (
        id VARCHAR,                      -- 12 hex chars: hash of the resolved config
        experiment VARCHAR,
        model VARCHAR,                   -- label, else the id's last path part
        model_id VARCHAR,                -- hub id, path, random:<arch>, package:<name>
        method VARCHAR,                  -- dense | magnitude | wanda | sparsegpt
        sparsity VARCHAR,                -- '0.5' | '2:4' | NULL for dense
        sparsity_fraction DOUBLE,
        calibration_language VARCHAR,    -- 'de', a mix 'en+de', NULL for dense
        corpus VARCHAR,                  -- calibration corpus label ('hf:allenai/c4'), NULL for dense
        nsamples INTEGER,
        seqlen INTEGER,
        seed INTEGER,
        state VARCHAR,                   -- queued | running | done | failed | cancelled
        queued_at DOUBLE,
        started_at DOUBLE,
        finished_at DOUBLE,
        updated_at DOUBLE,
        seconds_load DOUBLE,
        seconds_calibration DOUBLE,
        seconds_prune DOUBLE,
        seconds_eval DOUBLE,
        seconds_total DOUBLE,
        achieved_sparsity DOUBLE,
        host VARCHAR,
        device VARCHAR,
        pid INTEGER,
        worker VARCHAR,
        job_id VARCHAR,
        error VARCHAR,
        versions VARCHAR,                -- JSON {"python", "torch", "transformers", ...}
        spec VARCHAR,                    -- spec.json as JSON text
        n_metrics INTEGER
    )""",
    """CREATE TABLE metrics (
        run_id VARCHAR,
        kind VARCHAR,                    -- perplexity | task
        task VARCHAR,
        subtask VARCHAR,
        language VARCHAR,                -- evaluation language
        metric VARCHAR,
        value DOUBLE,
        stderr DOUBLE,
        n BIGINT,
        extra VARCHAR                    -- JSON
    )""",
    # What ingest last saw of each run dir, so unchanged runs are skipped cheaply.
    """CREATE TABLE ingest_state (
        run_id VARCHAR,
        spec_sig VARCHAR,
        status_sig VARCHAR,
        metrics_sig VARCHAR,
        status_mtime_ns BIGINT,
        metrics_mtime_ns BIGINT,
        ingested_at DOUBLE
    )""",
]

# Version 2: a flat view for people who open the file with plain SQL.
_V2 = [
    """CREATE VIEW results AS
    SELECT r.experiment, r.model, r.method, r.sparsity, r.calibration_language, r.corpus,
           r.nsamples, r.seqlen, r.seed, r.state, m.*
    FROM metrics m JOIN runs r ON r.id = m.run_id""",
]

# Version 3: each run's evaluation settings, so a comparison never averages runs (or matches a
# dense baseline) evaluated under different settings. Clearing the status signatures makes the
# next ingest read every run again, which fills the new columns (nothing is lost meanwhile).
_V3 = [
    # 'corpus=synthetic seqlen=256 max_tokens=131072': what a perplexity value depends on.
    "ALTER TABLE runs ADD COLUMN eval_ppl VARCHAR",
    # JSON {task family: 'num_fewshot=0 limit=100'}: what a task's values depend on.
    "ALTER TABLE runs ADD COLUMN eval_tasks VARCHAR",
    "UPDATE ingest_state SET status_sig = 'before-v3'",
]

# Version 4: each run's cell id (what the pruned model is, apart from its evaluation; see
# `langprune.cellid`), so runs of one cell evaluated from several presets count once. Old run dirs
# need nothing new: ingest computes the id from spec.json, and the cleared signatures re-read them.
_V4 = [
    "ALTER TABLE runs ADD COLUMN cell_id VARCHAR",
    "UPDATE ingest_state SET status_sig = 'before-v4'",
]

# Version 5: 64-bit integers. A spec accepts seeds up to 2**63 - 1 (engine/spec/experiment.py);
# 32-bit columns made one such run break every query of the workspace. Independent of version 6,
# so a database created at version 6 before this one existed gets it as well (see `migrate`).
_V5 = [
    f"ALTER TABLE runs ALTER COLUMN {column} SET DATA TYPE BIGINT"
    for column in ("nsamples", "seqlen", "seed", "pid", "n_metrics")
] + ["ALTER TABLE experiments ALTER COLUMN n_runs SET DATA TYPE BIGINT"]

# Version 6: analyses (store/analysis.py): per-run figures, mask files, pairwise mask overlap.
# Clearing the status signatures makes the next ingest read every run again and fill them.
_V6 = [
    """CREATE TABLE analysis (
        run_id VARCHAR,
        analysis VARCHAR,                -- drift | neurons
        language VARCHAR,                -- evaluation language (drift), neuron language (neurons)
        layer INTEGER,                   -- decoder layer, NULL for a whole-model figure
        module VARCHAR,
        metric VARCHAR,                  -- rel_error | n_specific | kept | kept_all | dprob
        value DOUBLE,
        n BIGINT                         -- tokens the figure is measured on, when known
    )""",
    """CREATE TABLE masks (
        run_id VARCHAR,
        path VARCHAR,                    -- <run dir>/masks.npz
        row_fraction DOUBLE,             -- NULL: full masks
        bytes BIGINT
    )""",
    """CREATE TABLE mask_overlap (
        run_a VARCHAR,                   -- run_a < run_b; same model_id, method, sparsity
        run_b VARCHAR,
        scope VARCHAR,                   -- all | layer | module
        key VARCHAR,                     -- 'all', a layer index, or q|k|v|o|gate|up|down
        jaccard DOUBLE,                  -- |A and B| / |A or B| of the pruned weights
        stderr DOUBLE,                   -- 0 for full masks; row-subsample error otherwise
        intersection DOUBLE,
        union_ DOUBLE,
        subsampled BOOLEAN
    )""",
    "UPDATE ingest_state SET status_sig = 'before-v6'",
]

MIGRATIONS: dict[int, list[str]] = {1: _V1, 2: _V2, 3: _V3, 4: _V4, 5: _V5, 6: _V6}
SCHEMA_VERSION = max(MIGRATIONS)


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    """The migrations a database has (empty for an empty one)."""
    try:
        rows = con.execute("SELECT DISTINCT version FROM schema_version").fetchall()
    except duckdb.CatalogException:
        return set()
    return {int(r[0]) for r in rows if r[0] is not None}


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest version a database has (0 for an empty one)."""
    return max(applied_versions(con), default=0)


def is_current(con: duckdb.DuckDBPyConnection) -> bool:
    """True when every migration this langprune knows is applied."""
    return set(MIGRATIONS) <= applied_versions(con)


def migrate(con: duckdb.DuckDBPyConnection, target: int = SCHEMA_VERSION) -> int:
    """Apply every migration up to `target` that the database lacks, in number order (a number
    added below the newest one is applied too); returns the version it was at."""
    applied = applied_versions(con)
    before = max(applied, default=0)
    if before > SCHEMA_VERSION:
        raise StoreError(
            f"the results database is at schema version {before}, newer than this langprune "
            f"knows ({SCHEMA_VERSION}); upgrade langprune or run `langprune store rebuild`",
            "langprune store rebuild  (recreates it for this version from the run directories)",
        )
    pending = sorted(v for v in MIGRATIONS if v <= target and v not in applied)
    if not pending:
        return before
    con.execute("BEGIN TRANSACTION")
    try:
        if not applied:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at DOUBLE)"
            )
        for version in pending:
            for statement in MIGRATIONS[version]:
                con.execute(statement)
            con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, time.time()])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return before
