"""Every invalid preset is refused with exit code 2, one line naming the field, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

GOOD = """
name = "t"
[[models]]
id = "random:llama-tiny"
[pruning]
methods = ["wanda"]
sparsity = [0.5]
[calibration]
languages = ["en", "de"]
nsamples = 8
seqlen = 64
[calibration.corpus]
source = "synthetic"
[evaluation]
languages = ["en"]
"""

# (name, old text, new text, words the error must contain)
CASES = [
    (
        "unknown method",
        'methods = ["wanda"]',
        'methods = ["wand"]',
        ["pruning.methods[0]", "'magnitude'", "'sparsegpt'"],
    ),
    ("sparsity 0", "sparsity = [0.5]", "sparsity = [0]", ["pruning.sparsity", "between 0 and 1"]),
    ("sparsity 1", "sparsity = [0.5]", "sparsity = [1]", ["pruning.sparsity", "between 0 and 1"]),
    ("sparsity negative", "sparsity = [0.5]", "sparsity = [-0.1]", ["pruning.sparsity", "-0.1"]),
    (
        "N:M with N >= M",
        "sparsity = [0.5]",
        'sparsity = ["3:2"]',
        ["pruning.sparsity", "'3:2'", "0 < N < M"],
    ),
    ("N:M with M = 0", "sparsity = [0.5]", 'sparsity = ["2:0"]', ["pruning.sparsity", "'2:0'"]),
    (
        "sparsity not a pattern",
        "sparsity = [0.5]",
        'sparsity = ["half"]',
        ["pruning.sparsity", "'half'", "N:M"],
    ),
    (
        "unknown language",
        'languages = ["en", "de"]',
        'languages = ["en", "xx"]',
        ["calibration.languages", "'xx'", "ISO 639-1"],
    ),
    (
        "misspelt language",
        'languages = ["en", "de"]',
        'languages = ["en", "ger"]',
        ["calibration.languages", "'ger'"],
    ),
    (
        "language name",
        'languages = ["en", "de"]',
        'languages = ["en", "German"]',
        ["calibration.languages", "'de'"],
    ),
    (
        "bad mix",
        'languages = ["en", "de"]',
        'languages = ["en+xx"]',
        ["calibration.languages", "'xx'"],
    ),
    (
        "empty languages",
        'languages = ["en", "de"]',
        "languages = []",
        ["calibration.languages", "at least 1"],
    ),
    (
        "duplicate languages",
        'languages = ["en", "de"]',
        'languages = ["en", "en"]',
        ["calibration.languages", "'en' is listed twice"],
    ),
    (
        "duplicate sparsity",
        "sparsity = [0.5]",
        "sparsity = [0.5, 0.5]",
        ["pruning.sparsity", "listed twice"],
    ),
    ("nsamples 0", "nsamples = 8", "nsamples = 0", ["calibration.nsamples", "greater than 0"]),
    ("seqlen 0", "seqlen = 64", "seqlen = 0", ["calibration.seqlen", "greater than 0"]),
    (
        "unknown key",
        "seqlen = 64",
        "seqlen = 64\nnsample = 3",
        ["calibration.nsample", "unknown key", "'nsamples'"],
    ),
    (
        "unknown top-level key",
        'name = "t"',
        'name = "t"\nmodel = "x"',
        ["model: unknown key", "'models'"],
    ),
    (
        "unknown task family",
        '[evaluation]\nlanguages = ["en"]',
        '[evaluation]\nlanguages = ["en"]\n[[evaluation.tasks]]\nfamily = "xnl"',
        ["evaluation.tasks[0].family", "'xnl'", "xnli"],
    ),
    ("wrong type int", "nsamples = 8", 'nsamples = "8"', ["calibration.nsamples", "integer"]),
    ("wrong type list", 'methods = ["wanda"]', 'methods = "wanda"', ["pruning.methods", "list"]),
    (
        "wrong type bool",
        'id = "random:llama-tiny"',
        'id = "random:llama-tiny"\ntrust_remote_code = "yes"',
        ["models[0].trust_remote_code", "boolean"],
    ),
    (
        "bad dtype",
        'id = "random:llama-tiny"',
        'id = "random:llama-tiny"\ndtype = "fp8"',
        ["models[0].dtype", "'bfloat16'"],
    ),
    (
        "unknown corpus source",
        'source = "synthetic"',
        'source = "mc4"',
        ["calibration.corpus.source", "'mc4'", "handbook"],
    ),
    (
        "negative seed",
        "seqlen = 64",
        "seqlen = 64\nseeds = [-1]",
        ["calibration.seeds", "negative"],
    ),
    (
        "missing models",
        '[[models]]\nid = "random:llama-tiny"',
        "",
        ["models: required but missing"],
    ),
    (
        "unknown executor",
        "[evaluation]",
        '[runner]\nexecutor = "kubernetes"\n[evaluation]',
        ["runner.executor", "'slurm'"],
    ),
    ("malformed TOML", "nsamples = 8", "nsamples = = 8", ["malformed TOML", "line", "column"]),
]


@pytest.mark.parametrize(("name", "old", "new", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_preset_is_refused_with_exit_2(
    tmp_path: Path, name: str, old: str, new: str, words: list[str]
) -> None:
    assert old in GOOD, name
    preset = tmp_path / "bad.toml"
    preset.write_text(GOOD.replace(old, new, 1))
    ws = tmp_path / "ws"
    for args in (("presets", "validate", str(preset)), ("plan", str(preset))):
        result = run_cli(*args, workspace=ws)
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        for word in words:
            assert word in result.stderr, (name, word, result.stderr)
        assert result.stdout == ""
    assert not ws.exists(), "bad input must not write anything"


def test_good_preset_validates(tmp_path: Path) -> None:
    preset = tmp_path / "good.toml"
    preset.write_text(GOOD)
    result = run_cli("presets", "validate", str(preset), workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr
    assert "valid (3 runs)" in result.stdout


def test_unknown_preset_name(tmp_path: Path) -> None:
    result = run_cli("plan", "smok", workspace=tmp_path / "ws")
    assert result.returncode == 2
    assert "no preset named 'smok'" in result.stderr and "did you mean 'smoke'" in result.stderr


def test_missing_preset_file(tmp_path: Path) -> None:
    result = run_cli("presets", "validate", str(tmp_path / "nope.toml"), workspace=tmp_path / "ws")
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    preset = tmp_path / "bad.toml"
    preset.write_text(
        GOOD.replace("nsamples = 8", "nsamples = 0").replace(
            'methods = ["wanda"]', 'methods = ["x"]'
        )
    )
    result = run_cli("presets", "validate", str(preset), workspace=tmp_path / "ws")
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert any("calibration.nsamples" in ln for ln in lines)
    assert any("pruning.methods" in ln for ln in lines)
