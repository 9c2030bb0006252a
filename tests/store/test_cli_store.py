"""The real CLI: results, compare, store path|sql (rebuild is in test_rebuild)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb

from tests.conftest import REPO
from tests.store.helpers import BASE, ppl_row, runs_of, write_known, write_run


def test_results_lists_and_filters(workspace: Path, cli) -> None:
    runs = write_known(workspace)
    r = cli("results", "calib=sw", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert sorted(x["seed"] for x in json.loads(r.stdout)) == [0, 1]
    r = cli("results", "method=wanda", "seed=0")
    assert r.returncode == 0 and "3 runs matching method=wanda seed=0" in r.stdout
    assert runs[1].id in r.stdout or runs[2].id in r.stdout
    r = cli("results", "methd=wanda")
    assert r.returncode == 2 and "unknown key 'methd' (did you mean 'method'?" in r.stderr
    assert "Traceback" not in r.stderr


def test_compare_outputs_and_errors(workspace: Path, cli, tmp_path: Path) -> None:
    write_known(workspace)
    r = cli("compare", "--metric", "ppl", "--delta", "abs", env={"COLUMNS": "120"})
    assert r.returncode == 0, r.stderr
    assert "ppl (lower is better)" in r.stdout and "dense" in r.stdout and "†" in r.stdout
    r = cli("compare", "-m", "acc", "--format", "md")
    assert r.returncode == 0 and r.stdout.splitlines()[2] == "| calibration | de | en | mean |"
    out = tmp_path / "acc.parquet"
    r = cli("compare", "-m", "acc", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert duckdb.connect().execute(f"SELECT count(*) FROM '{out}'").fetchone() == (7,)
    r = cli("compare", "-m", "acc", "--format", "parquet")
    assert r.returncode == 2 and "needs --output" in r.stderr
    r = cli("compare", "-m", "pll")
    assert r.returncode == 2 and "did you mean 'ppl'" in r.stderr
    data = {**BASE, "pruning": {"methods": ["magnitude"], "sparsity": [0.5]}}
    write_run(workspace, runs_of(data)[1], [ppl_row("en", 30.0)])
    r = cli("compare", "-m", "ppl")
    assert r.returncode == 2 and "choose one with --method" in r.stderr
    r = cli("compare", "-m", "ppl", "--method", "magnitude", "--format", "csv")
    assert r.returncode == 0 and "(no calibration),en,perplexity:synthetic,en,ppl,30.0" in r.stdout
    r = cli("compare", "-m", "ppl", "--method", "wandaa")
    assert r.returncode == 2 and "did you mean 'wanda'" in r.stderr and "magnitude" in r.stderr
    assert "Traceback" not in r.stderr


def test_store_path_and_sql(workspace: Path, cli) -> None:
    write_known(workspace)
    r = cli("store", "path")
    assert r.returncode == 0 and r.stdout.strip() == str(workspace.resolve() / "results.duckdb")
    r = cli("store", "sql", "SELECT method, count(*) AS n FROM results GROUP BY 1 ORDER BY 1",
            "--format", "json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"method": "dense", "n": 4}, {"method": "wanda", "n": 19}]
    r = cli("store", "sql", "SELEC 1")
    assert r.returncode == 2 and "syntax error" in r.stderr.lower()
    r = cli("store", "sql", "DELETE FROM runs")
    assert r.returncode == 2 and "read-only" in r.stderr.lower()


def test_store_never_imports_torch(workspace: Path) -> None:
    """The store modules and the store commands stay free of torch, transformers and lm_eval."""
    write_known(workspace)
    code = (
        "import sys\n"
        "import langprune.store.db, langprune.store.ingest, langprune.store.queries\n"
        "import langprune.store.export, langprune.store.filters, langprune.store.table\n"
        "import langprune.cli.results\n"
        "from langprune.cli import app\n"
        "for args in (['results'], ['compare', '-m', 'ppl'], ['store', 'path']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit as e:\n"
        "        assert not e.code, (args, e.code)\n"
        "heavy = {'torch', 'transformers', 'lm_eval'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = {"LANGPRUNE_HOME": str(workspace), "PATH": "/usr/bin:/bin", "COLUMNS": "100"}
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       env=env, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
