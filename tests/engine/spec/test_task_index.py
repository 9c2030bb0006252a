"""One task index for validation and evaluation: the shipped offline task `tinymc` validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from langprune.engine.spec import presets
from langprune.engine.spec.errors import SpecError
from langprune.engine.spec.tasks import TASK_FAMILIES, shipped_task_dir, task_index

BASE = {
    "name": "t",
    "models": [{"id": "random:llama-tiny"}],
    "pruning": {"methods": ["wanda"], "sparsity": [0.5]},
    "calibration": {"languages": ["en"], "corpus": {"source": "synthetic"}},
}


def _with_tasks(tasks: list[dict], task_paths: list[str] | None = None) -> dict:
    ev: dict = {"languages": ["en", "de"], "tasks": tasks}
    if task_paths is not None:
        ev["task_paths"] = task_paths
    return {**BASE, "evaluation": ev}


def _declared(folder: Path) -> set[str]:
    """Recompute the declared names by reading the YAML keys independently of the index."""
    names = set()
    for f in folder.glob("*.yaml"):
        for line in f.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key in ("task", "group") and value.strip():
                names.add(value.strip())
    return names


def test_shipped_tasks_are_indexed_without_task_paths() -> None:
    index = task_index()
    assert _declared(shipped_task_dir()) == {"tinymc", "tinymc_en", "tinymc_de", "tinymc_zh"}
    assert _declared(shipped_task_dir()) <= index.local
    assert index.families == frozenset(TASK_FAMILIES)


@pytest.mark.parametrize("family", ["tinymc", "tinymc_de"])
def test_shipped_offline_task_validates(family: str) -> None:
    exp = presets.from_dict(_with_tasks([{"family": family}]))
    assert [t.family for t in exp.evaluation.tasks] == [family]
    assert exp.runs()


def test_unknown_family_is_still_refused_with_the_allowed_names() -> None:
    with pytest.raises(SpecError) as err:
        presets.from_dict(_with_tasks([{"family": "tinymcc"}]))
    text = str(err.value)
    assert "evaluation.tasks[0].family" in text and "'tinymcc'" in text
    assert "tinymc" in text and "xnli" in text


def test_task_paths_add_their_names(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("task: my_task\ndataset_path: json\n", encoding="utf-8")
    exp = presets.from_dict(_with_tasks([{"family": "my_task"}], [str(tmp_path)]))
    assert exp.evaluation.tasks[0].family == "my_task"
    with pytest.raises(SpecError):
        presets.from_dict(_with_tasks([{"family": "my_task"}]))


def test_paper_languages_have_knowledge_and_reasoning_tasks_in_every_language() -> None:
    from langprune.engine.spec.languages import PAPER_LANGUAGES
    from langprune.engine.spec.tasks import TASK_FAMILIES

    complete = {f for f, table in TASK_FAMILIES.items() if set(PAPER_LANGUAGES) <= set(table)}
    assert {
        "belebele",
        "xnli",
        "global_mmlu_full",
        "mmlu_prox",
        "mmlu_prox_lite",
        "global_piqa",
    } <= complete
    assert TASK_FAMILIES["global_piqa"]["es"] == "global_piqa_parallel_cloze_spa_latn_spai"
    assert TASK_FAMILIES["mmmlu"]["zh"] == "mmmlu_zh_cn" and "en" not in TASK_FAMILIES["mmmlu"]
    assert TASK_FAMILIES["mlqa"]["de"] == "mlqa_de_de"
    assert TASK_FAMILIES["afrimmlu"] == {
        "en": "afrimmlu_direct_eng_prompt_1", "sw": "afrimmlu_direct_swa_prompt_1",
    }  # fmt: skip


def test_a_family_asked_for_a_language_it_lacks_lists_the_languages_it_has() -> None:
    from langprune.engine.spec.experiment import Experiment

    spec = {
        "name": "t",
        "models": [{"id": "random:llama-tiny"}],
        "pruning": {"methods": ["wanda"], "sparsity": [0.5]},
        "calibration": {"languages": ["en"]},
        "evaluation": {
            "languages": ["sw"],
            "tasks": [{"family": "xquad", "languages": ["sw", "de"]}],
        },
    }
    with pytest.raises(
        ValueError, match=r"tasks\[0\].languages: xquad has no sw \(it has: ar de el en"
    ):
        Experiment.model_validate(spec)
    spec["evaluation"]["tasks"] = [{"family": "xquad"}]  # inherited: taken where xquad has them
    Experiment.model_validate(spec)


def test_paper_presets_ask_for_the_new_families() -> None:
    from langprune.engine.spec.presets import load

    for name in ("paper-llama3-8b", "paper-llama3-70b", "paper-aya23-8b", "paper-aya23-35b"):
        families = [t.family for t in load(name).evaluation.tasks]
        for family in ("global_mmlu", "mmlu_prox_lite", "global_piqa", "mmmlu", "xquad", "mlqa",
                       "afrimmlu", "afrixnli", "uhura_arc_easy"):  # fmt: skip
            assert family in families, (name, family)
