"""A full (read-only, failing) disk in the CLI: one line with the cause, the path and the fix,
exit 2, never a traceback; `status` still lists the runs. The real full disk is a 32 MB tmpfs
(tests/conftest.py `small_disk`, skipped where mounting is refused)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, fill_disk, run_cli
from tests.store.helpers import ppl_row, runs_of, write_run


def _error(code: int, path: str | None = "/ws/runs/abc/metrics.jsonl") -> OSError:
    return OSError(code, os.strerror(code), path)


@pytest.mark.parametrize(
    ("code", "cause", "fix"),
    [
        (errno.ENOSPC, "the disk is full", "free space on it (df -h /ws/runs/abc)"),
        (errno.EDQUOT, "the disk quota is used up", "quota -s"),
        (errno.EIO, "I/O error", "dmesg"),
        (errno.EFBIG, "size limit", "ulimit -f"),
        (errno.EROFS, "read-only", "remount it writable"),
    ],
)
def test_each_disk_errno_is_one_line_with_the_path_and_the_fix(
    code: int, cause: str, fix: str
) -> None:
    from langprune.errors import DiskError, disk_error

    problem = disk_error(_error(code))
    assert isinstance(problem, DiskError) and problem.errno == code
    assert cause in problem.message and problem.message.endswith("/ws/runs/abc/metrics.jsonl")
    assert fix in problem.fix and problem.fix.endswith("then run the command again")
    assert "\n" not in problem.message and "\n" not in problem.fix
    assert disk_error(_error(code), then="langprune retry abc").fix.endswith("langprune retry abc")


def test_what_is_not_a_disk_problem_is_left_alone_and_causes_are_followed() -> None:
    from langprune.errors import disk_error

    assert disk_error(FileNotFoundError(errno.ENOENT, "No such file", "/x")) is None
    assert disk_error(ValueError("bad")) is None
    assert disk_error(_error(errno.ENOSPC, None)).path is None
    duck = RuntimeError(
        'IO Error: Could not write file "/ws/results.duckdb": No space left on device'
    )
    assert disk_error(duck).path == "/ws/results.duckdb"  # a library's error quoting the errno
    try:
        try:
            raise _error(errno.ENOSPC)
        except OSError as inner:
            raise RuntimeError("writing the checkpoint failed") from inner
    except RuntimeError as outer:
        assert disk_error(outer).errno == errno.ENOSPC


def test_a_write_names_its_file_and_leaves_no_temporary(small_disk: Path) -> None:
    from langprune.store import fs

    filler = fill_disk(small_disk)
    target = small_disk / "status.json"
    with pytest.raises(OSError) as info:
        fs.write_json_atomic(target, {"state": "done", "pad": "x" * 8192})
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]
    with pytest.raises(OSError) as info:
        fs.append_jsonl(small_disk / "metrics.jsonl", {"pad": "x" * 8192})
    assert info.value.filename == str(small_disk / "metrics.jsonl")
    assert (small_disk / "metrics.jsonl").read_bytes() == b""  # no torn line left behind
    filler.unlink()


def test_the_boundary_turns_a_raw_disk_error_into_one_line(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import errno, os, sys
        from langprune.engine.run import launcher

        def find_runs(*a, **k):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/ws/runner/config.json")

        launcher.find_runs = find_runs
        sys.argv = ["langprune", "--workspace", {str(tmp_path)!r}, "logs", "x"]
        from langprune.cli import main
        main()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.splitlines() == [
        "error: the disk is full (No space left on device): /ws/runner/config.json",
        "fix: free space on it (df -h /ws/runner), then run the command again",
    ]


def _no_traceback(out: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in out.stderr + out.stdout, out.stderr


def test_status_results_and_run_on_a_full_disk(small_disk: Path, tmp_path: Path) -> None:
    ws = small_disk / "ws"
    (run,) = runs_of({**_ONE_RUN})
    write_run(ws, run, [ppl_row("en", 10.0)])  # finished, never ingested: no database yet
    filler = fill_disk(small_disk)
    env = {"COLUMNS": "200", "LANGPRUNE_GPUS": ""}

    status = run_cli("status", workspace=ws, env=env)
    _no_traceback(status)
    assert status.returncode == 0 and "1 done" in status.stdout  # the runs, as they are
    assert "the disk is full" in status.stderr and "free space" in status.stderr

    results = run_cli("results", workspace=ws, env=env)
    _no_traceback(results)
    assert results.returncode == 2
    first, fix = results.stderr.splitlines()
    assert first.startswith("error: the disk is full") and str(ws) in first
    assert fix.startswith("fix: free space") and "damaged" not in results.stderr

    preset = tmp_path / "p.toml"
    preset.write_text(_PRESET, encoding="utf-8")
    launched = run_cli("run", str(preset), workspace=ws, env=env)
    _no_traceback(launched)
    assert launched.returncode == 2 and "error: the disk is full" in launched.stderr

    filler.unlink()  # space is back: nothing was damaged by the refused writes
    results = run_cli("results", workspace=ws, env=env)
    assert results.returncode == 0, results.stderr
    assert run.id in results.stdout and "done" in results.stdout


_ONE_RUN = {
    "name": "full",
    "dense_baseline": False,
    "models": [{"id": "random:llama-tiny"}],
    "pruning": {"methods": ["wanda"], "sparsity": [0.5]},
    "calibration": {"languages": ["en"], "seeds": [0], "corpus": {"source": "synthetic"}},
    "evaluation": {"languages": ["en"]},
}
_PRESET = """
name = "other"
dense_baseline = false
[[models]]
id = "random:llama-tiny"
[pruning]
methods = ["magnitude"]
sparsity = [0.5]
[calibration]
languages = ["en"]
[calibration.corpus]
source = "synthetic"
[evaluation]
languages = ["en"]
"""
