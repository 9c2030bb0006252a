"""lm-eval on the in-memory model: offline local tasks, normalized rows, pruning is seen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langprune.engine.eval.perplexity import evaluate_perplexity
from langprune.engine.eval.tasks import evaluate_tasks, plan_tasks, task_manager
from langprune.engine.spec.experiment import TaskSpec
from langprune.engine.spec.tasks import task_search_paths as _resolve_paths
from tests.engine.eval.conftest import magnitude_prune_, tiny_llama

ROW_KEYS = {"kind", "task", "subtask", "language", "metric", "value", "stderr", "n", "extra"}


def exactly(text: str, n_bytes: int) -> str:
    """`text` cut to whole characters and padded with '.' to exactly n UTF-8 bytes."""
    while len(text.encode("utf-8")) > n_bytes:
        text = text[:-1]
    return text + "." * (n_bytes - len(text.encode("utf-8")))


# Exactly 3 windows of 64 byte-tokens each: lm-eval's rolling windows are then ours (its last,
# partial window would take extra context from the window before; ours never overlap).
RAW_DOCS = {
    "de": "Alle Menschen sind frei und gleich an Würde und Rechten geboren. Sie sind mit Vernunft "
    "und Gewissen begabt und sollen einander im Geist der Brüderlichkeit begegnen. Jeder hat "
    "Anspruch auf die in dieser Erklärung verkündeten Rechte und Freiheiten.",
    "ru": "Все люди рождаются свободными и равными в своем достоинстве и правах. Они наделены "
    "разумом и совестью и должны поступать в отношении друг друга в духе братства.",
}
DOCS = {lang: exactly(doc, 192) for lang, doc in RAW_DOCS.items()}


def write_rolling_tasks(folder: Path) -> None:
    """A user task folder: one loglikelihood_rolling task per language, data next to the YAML."""
    folder.mkdir(parents=True)
    for lang, doc in DOCS.items():
        (folder / f"docs_{lang}.jsonl").write_text(json.dumps({"text": doc}) + "\n")
        (folder / f"textppl_{lang}.yaml").write_text(
            f"task: textppl_{lang}\n"
            "dataset_path: json\n"
            f"dataset_kwargs:\n  data_files:\n    test: docs_{lang}.jsonl\n"
            "test_split: test\n"
            "output_type: loglikelihood_rolling\n"
            'doc_to_text: ""\n'
            'doc_to_target: "{{text}}"\n'
            "metric_list:\n  - metric: bits_per_byte\n  - metric: word_perplexity\n"
            "metadata:\n  version: 1.0\n"
        )
    (folder / "textppl.yaml").write_text("group: textppl\ntask:\n  - textppl_de\n  - textppl_ru\n")


def test_shipped_multiple_choice_tasks_give_normalized_rows(
    model, tokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # data_files must not depend on the working directory
    events: list[dict] = []
    rows = evaluate_tasks(
        model,
        tokenizer,
        [TaskSpec(family="tinymc", languages=["de", "zh", "sw"], limit=6)],
        batch_size=4,
        progress=lambda **kw: events.append(kw),
    )
    assert {(r["subtask"], r["language"], r["metric"]) for r in rows} == {
        ("tinymc_de", "de", "acc"),
        ("tinymc_de", "de", "acc_norm"),
        ("tinymc_zh", "zh", "acc"),
        ("tinymc_zh", "zh", "acc_norm"),
    }
    for r in rows:
        assert set(r) == ROW_KEYS
        assert r["kind"] == "task" and r["task"] == "tinymc" and r["n"] == 6
        assert 0 <= r["value"] <= 1 and r["stderr"] is not None and r["stderr"] > 0
        assert r["extra"]["filter"] == "none" and r["extra"]["num_fewshot"] == 0
        assert r["extra"]["limit"] == 6
    assert [(e["stage"], e["step"], e["total"], e["language"]) for e in events] == [
        ("eval_tasks", 1, 2, "de"),
        ("eval_tasks", 2, 2, "zh"),
    ]


def test_pruned_in_memory_model_is_what_lm_eval_scores(
    tokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_rolling_tasks(tmp_path / "mytasks")
    monkeypatch.chdir(tmp_path / "mytasks" / "..")
    model = tiny_llama(max_positions=64)  # windows of 64 tokens: the docs need several
    specs = [TaskSpec(family="textppl", limit=None)]
    paths = [str(tmp_path / "mytasks")]

    def bpb() -> dict[str, float]:
        # add_bos_token=False: lm-eval puts its own prefix token (BOS) first, as we do; else the
        # byte tokenizer would add a second BOS
        rows = evaluate_tasks(
            model, tokenizer, specs, task_paths=paths, lm_kwargs={"add_bos_token": False}
        )
        return {r["language"]: r["value"] for r in rows if r["metric"] == "bits_per_byte"}

    dense = bpb()
    assert set(dense) == {"de", "ru"}
    # lm-eval's rolling windows are ours: same bits per byte on the same single document
    for lang, doc in DOCS.items():
        ours = evaluate_perplexity(model, tokenizer, [doc], seqlen=64, max_tokens=10_000)
        assert ours.windows == 3
        assert ours.bpb == pytest.approx(dense[lang], rel=1e-4)

    saved = {k: v.clone() for k, v in model.state_dict().items()}
    magnitude_prune_(model, 0.5)
    pruned = bpb()
    assert all(abs(pruned[lang] - dense[lang]) > 1e-3 for lang in dense)
    model.load_state_dict(saved)  # restored weights -> the dense numbers again (nothing cached)
    assert bpb() == pytest.approx(dense, rel=1e-6)


def test_local_index_skips_builtin_tasks_and_plans_families() -> None:
    local = task_manager(_resolve_paths([]), False)
    assert {"tinymc", "tinymc_de", "tinymc_en", "tinymc_zh"} <= set(local.all_tasks)
    assert "xnli_de" not in local.all_tasks and len(local.all_tasks) < 50

    planned, needs_defaults = plan_tasks([TaskSpec(family="tinymc", languages=["en"])])
    assert [(p.name, p.language) for p in planned] == [("tinymc_en", "en")] and not needs_defaults

    specs = [
        TaskSpec(family="xnli", languages=["de", "sw", "ja"], num_fewshot=5, limit=20),
        TaskSpec(family="belebele", languages=["zh", "de"]),
        TaskSpec(family="xwinograd", languages=["ja"]),
    ]
    planned, needs_defaults = plan_tasks(specs, batch_size=16)
    assert needs_defaults
    assert [(p.family, p.language, p.name) for p in planned] == [
        ("xnli", "de", "xnli_de"),
        ("xnli", "sw", "xnli_sw"),
        ("belebele", "zh", "belebele_zho_Hans"),
        ("belebele", "de", "belebele_deu_Latn"),
        ("xwinograd", "ja", "xwinograd_jp"),
    ]
    assert planned[0].num_fewshot == 5 and planned[0].limit == 20
    assert {p.batch_size for p in planned} == {16}


def test_shipped_tasks_validate_in_specs() -> None:
    from langprune.engine.spec.tasks import local_task_names, shipped_task_dir

    names = set(local_task_names([str(shipped_task_dir())]))
    assert names == {"tinymc", "tinymc_en", "tinymc_de", "tinymc_zh"}
