"""Compose complete: every preset field reachable, plain words, the grid as a product, edit as
TOML through a real $EDITOR process, and saving over a name asks first (Pilot, real app)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import tomllib

from langprune.engine.spec import presets
from langprune.tui import form
from langprune.tui.app import LangpruneApp
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.anyio

# distinct models the engine knows without a download
RANDOM_MODELS = ("random:llama-tiny", "random:qwen2-tiny", "random:mistral-tiny")


def _text(widget) -> str:
    return str(widget.render())


# ---- form (no Textual) ----


@pytest.mark.parametrize("name", sorted(presets.available(None)))
def test_every_shipped_preset_survives_the_form(name: str) -> None:
    """A preset read into the form and written back is the same experiment (same run ids)."""
    path = presets.resolve(name, None)
    data = presets.parse_toml(path.read_text(encoding="utf-8"), str(path))
    original = presets.from_dict(presets.parse_toml(path.read_text(encoding="utf-8"), "x"))
    back, problems = form.validate(form.to_dict(form.from_experiment(data)))
    assert problems == []
    assert back is not None
    assert [r.id for r in back.runs()] == [r.id for r in original.runs()]
    assert back.analysis == original.analysis and back.runner == original.runner


def _grid(methods: list[str], sparsity: str, langs: list[str], seeds: str, models: int = 1):
    v = form.FormValues(
        models=list(RANDOM_MODELS[:models]),
        methods=methods,
        sparsity=sparsity,
        languages=langs,
        seeds=seeds,
        eval_languages="en",
    )
    exp, problems = form.validate(form.to_dict(v))
    assert problems == [], problems
    return exp


def test_grid_sentence_is_the_product_the_engine_expands() -> None:
    exp = _grid(["wanda", "sparsegpt"], "0.5, 2:4", ["en", "de", "es", "ru"], "0, 1")
    assert (
        form.grid_sentence(exp)
        == "1 model x 2 methods x 2 sparsities x 4 languages x 2 seeds + 1 dense = 33"
    )
    assert len(exp.runs()) == 1 * 2 * 2 * 4 * 2 + 1
    # magnitude reads no calibration text: once per model and sparsity
    exp = _grid(["magnitude", "wanda"], "0.5, 0.6", ["en", "de", "es"], "0, 1", models=2)
    expected = 2 * 1 * 2 * 3 * 2 + 2 * 2 + 2
    assert len(exp.runs()) == expected
    assert form.grid_sentence(exp) == (
        "2 models x 1 method x 2 sparsities x 3 languages x 2 seeds"
        f" + 2 models x magnitude x 2 sparsities (no calibration) + 2 dense = {expected}"
    )


def test_problems_in_plain_words() -> None:
    v = form.FormValues(name="", seeds="x", nsamples="0", sparsity="", gpus="a")
    lines = form.plain_problems(form.validate(form.to_dict(v))[1])
    assert "methods: pick at least one method" in lines
    assert "name: give the experiment a name" in lines
    assert "seeds: 'x' is not a whole number (e.g. 0, 1, 42)" in lines
    assert "nsamples: must be more than 0" in lines
    assert "GPUs: 'a' is not a whole number (e.g. 0, 1, 42)" in lines
    assert not any("should" in line or "validation" in line for line in lines)


def test_budget_dtype_device_and_corpus_options_reach_the_spec(tmp_path: Path) -> None:
    corpus_dir = tmp_path / "c"
    corpus_dir.mkdir()
    (corpus_dir / "en.txt").write_text("An English page.\n")  # preflight: the corpus has `en`
    v = form.FormValues(
        models=["random:llama-tiny"],
        dtype="float32",
        device="cpu",
        methods=["wanda"],
        sparsity="0.5",
        languages=["en"],
        corpus="files",
        corpus_options=f"path={corpus_dir} heldout_fraction=0.2 parallel=true",
        eval_languages="en",
        max_tokens="2048",
        eval_seqlen="256",
        batch_size="2",
    )
    exp, problems = form.validate(form.to_dict(v))
    assert problems == [] and exp is not None
    assert (exp.models[0].dtype, exp.models[0].device) == ("float32", "cpu")
    assert exp.calibration.corpus.options == {
        "path": str(corpus_dir),
        "heldout_fraction": 0.2,
        "parallel": True,
    }
    ev = exp.evaluation
    assert (ev.max_tokens, ev.seqlen, ev.batch_size) == (2048, 256, 2)
    back = form.from_experiment(form.to_dict(v))
    assert (back.corpus_options, back.max_tokens, back.eval_seqlen) == (
        v.corpus_options,
        "2048",
        "256",
    )


# ---- the screen ----


async def test_new_grid_defaults_to_an_offline_corpus_and_tab_lands_on_a_field(
    fake_ws: Path,
) -> None:
    app = LangpruneApp(fake_ws, start="compose")
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        assert screen.query_one("#corpus").value in ("handbook", "synthetic")
        assert screen.query_one("#corpus").value == form.default_corpus()
        await pilot.press("tab")
        focused = app.focused
        assert focused is not None and focused.id not in (None, "compose-form")


async def _small_grid(pilot, screen, name: str) -> None:
    screen.query_one("#add-model").value = "random:llama-tiny"
    screen.query_one("#add-model").focus()
    await pilot.press("enter")
    screen.query_one("#name").value = name
    screen.query_one("#method-wanda").value = True
    screen.query_one("#lang-en").value = True
    screen.query_one("#corpus").value = "synthetic"
    screen.query_one("#nsamples").value = "4"
    screen.query_one("#seqlen").value = "32"
    screen.query_one("#eval_languages").value = "en"
    await wait_for(pilot, lambda: "valid" in _text(screen.query_one("#preview")))


async def test_budget_fields_are_saved_and_the_preview_counts_a_product(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="compose")
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        await _small_grid(pilot, screen, "budget")
        screen.query_one("#max_tokens").value = "512"
        screen.query_one("#batch_size").value = "x"
        await wait_for(pilot, lambda: "whole number" in _text(screen.query_one("#err-batch_size")))
        screen.query_one("#batch_size").value = "2"
        screen.query_one("#dtype").value = "float32"
        screen.query_one("#device").value = "cpu"
        await wait_for(pilot, lambda: "valid" in _text(screen.query_one("#preview")))
        assert "1 model x 1 method x 1 sparsity x 1 language x 1 seed + 1 dense = 2 runs" in _text(
            screen.query_one("#preview")
        )
        await pilot.press("ctrl+s")
        path = fake_ws / "presets" / "budget.toml"
        await wait_for(pilot, path.exists)
        saved = presets.load(str(path))
        assert (saved.evaluation.max_tokens, saved.evaluation.batch_size) == (512, 2)
        assert (saved.models[0].dtype, saved.models[0].device) == ("float32", "cpu")


EDITOR = """
import pathlib, sys
path = pathlib.Path(sys.argv[-1])
text = path.read_text()
pathlib.Path({seen!r}).write_text(text)
{change}
"""


def _editor(tmp_path: Path, monkeypatch, change: str) -> Path:
    seen = tmp_path / "seen.toml"
    script = tmp_path / "editor.py"
    script.write_text(textwrap.dedent(EDITOR.format(seen=str(seen), change=change)))
    monkeypatch.setenv("VISUAL", f"{sys.executable} {script}")
    return seen


async def test_edit_as_toml_round_trips_through_the_editor(
    fake_ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = LangpruneApp(fake_ws, start="compose")
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        await _small_grid(pilot, screen, "edited")
        # a field the form has no widget for (analysis) and one it has (nsamples), edited as TOML
        seen = _editor(
            tmp_path,
            monkeypatch,
            "path.write_text(text.replace('nsamples = 4', 'nsamples = 7')"
            " + '\\n[analysis]\\nmasks = false\\n')",
        )
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: screen.query_one("#nsamples").value == "7")
        assert tomllib.loads(seen.read_text())["calibration"]["nsamples"] == 4
        await wait_for(
            pilot, lambda: screen.valid is not None and screen.valid.calibration.nsamples == 7
        )
        assert screen.valid.analysis.masks is False
        assert screen.valid.calibration.nsamples == 7

        # broken TOML: the error is shown in place, the form is left alone, the text is kept
        _editor(tmp_path, monkeypatch, "path.write_text(text + '\\nthis is = = not toml\\n')")
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: "malformed TOML" in _text(screen.query_one("#problems")))
        assert screen.query_one("#problems").display
        assert screen.query_one("#nsamples").value == "7"
        # ctrl+t again reopens what the user wrote, not a fresh copy of the form
        seen = _editor(
            tmp_path, monkeypatch, "path.write_text(text.replace('this is = = not toml', ''))"
        )
        seen2 = seen
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: "this is = = not toml" in seen2.read_text())
        await wait_for(pilot, lambda: not screen.query_one("#problems").display)
        assert screen.toml_draft is None

        # an unknown key (no field to show it by): named, and the text is kept
        _editor(tmp_path, monkeypatch, "path.write_text(text + '\\nseedz = 3\\n')")
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: "seedz" in _text(screen.query_one("#problems")))
        assert screen.toml_draft is not None and "seedz" in screen.toml_draft


async def test_saving_over_an_existing_or_shipped_name_asks(fake_ws: Path) -> None:
    from langprune.tui.screens.compose import ConfirmScreen

    target = fake_ws / "presets" / "mine.toml"
    target.write_text("# someone's preset\n", encoding="utf-8")
    app = LangpruneApp(fake_ws, start="compose")
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        await _small_grid(pilot, screen, "mine")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "mine exists" in _text(app.screen.query_one("#confirm-question"))
        await pilot.press("n")
        await pilot.pause(0.3)
        assert target.read_text() == "# someone's preset\n"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "runs" in target.read_text())
        assert presets.load(str(target)).name == "mine"

        # a shipped preset's name: saving would hide it, so it asks too
        screen.query_one("#name").value = "smoke"
        await wait_for(pilot, lambda: "valid" in _text(screen.query_one("#preview")))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "shipped preset" in _text(app.screen.query_one("#confirm-question"))
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert not (fake_ws / "presets" / "smoke.toml").exists()
