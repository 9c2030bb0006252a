"""Language normalization and the family tables, checked against the installed lm-eval's index."""

from __future__ import annotations

import pytest

from langprune.engine.spec.lang_names import iso639_1, language_of_task
from langprune.engine.spec.languages import LANGUAGES
from langprune.engine.spec.tasks import TASK_FAMILIES, task_names

# Built-in tasks in these families' name spaces whose language has no ISO 639-1 code (or none
# at all: arc_easy is English ARC without a language in its name).
NO_ISO639_1 = {
    "arc_challenge", "arc_challenge_chat", "arc_challenge_llama", "arc_easy", "xnli_va",
    "belebele_ceb_Latn", "belebele_ilo_Latn", "belebele_kac_Latn", "belebele_kea_Latn",
    "belebele_luo_Latn", "belebele_nso_Latn", "belebele_shn_Mymr", "belebele_war_Latn",
    *(f"belebele_{c}_prompt_{i}" for c in ("kea", "luo") for i in range(1, 6)),
}  # fmt: skip
PREFIXES = (
    "xnli_", "xcopa_", "xstorycloze_", "paws_", "m_mmlu_", "hellaswag_", "arc_", "global_mmlu_",
    "belebele_", "mgsm_", "lambada_openai_mt_", "xwinograd_",
)  # fmt: skip


@pytest.fixture(scope="module")
def index():
    """lm-eval's full task index: names and YAML configs only, nothing downloaded (~6 s)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_defaults=True).task_index


def test_every_family_task_exists_in_installed_lm_eval(index) -> None:
    for family, table in TASK_FAMILIES.items():
        for lang, name in table.items():
            assert lang in LANGUAGES, f"{family}: {lang!r} is not ISO 639-1"
            assert name in index, f"{family}/{lang}: {name} is not an lm-eval task or group"
            assert language_of_task(name) == lang


def test_families_cover_what_lm_eval_groups_them_into(index) -> None:
    from lm_eval.tasks._index import Kind

    # lm-eval's own groups/tags for these families list exactly our tasks
    for family, group in [
        ("xnli", "xnli"), ("xcopa", "xcopa"), ("xstorycloze", "xstorycloze"),
        ("xwinograd", "xwinograd"), ("pawsx", "pawsx"), ("m_mmlu", "m_mmlu"),
        ("arc_multilingual", "arc_multilingual"), ("lambada_multilingual", "lambada_multilingual"),
        ("hellaswag_multilingual", "hellaswag_multilingual"), ("mmmlu", "mmmlu"),
    ]:  # fmt: skip
        entry = index[group]
        members = entry.tags if entry.kind == Kind.TAG else set(entry.cfg["task"])
        assert set(TASK_FAMILIES[family].values()) == set(members), family


def test_names_in_family_namespaces_normalize(index) -> None:
    """Every real task in these name spaces gets a valid ISO code, bar the known exceptions."""
    from lm_eval.tasks._index import Kind

    checked = 0
    for name, entry in index.items():
        if entry.kind not in (Kind.TASK, Kind.PY_TASK):
            continue  # tags such as belebele_tasks are bundles, not languages
        if not name.startswith(PREFIXES) or name in NO_ISO639_1:
            continue
        lang = language_of_task(name)
        assert lang in LANGUAGES, f"{name} -> {lang}"
        checked += 1
    assert checked > 2500  # global_mmlu_full alone has ~2.4k subject tasks
    # a group's members are in the group's language (global_mmlu_de -> its 6 subject tasks)
    for lang, group in TASK_FAMILIES["global_mmlu"].items():
        for member in index[group].cfg["task"]:
            assert language_of_task(member) == lang, member


@pytest.mark.parametrize(
    ("name", "lang"),
    [
        ("xwinograd_jp", "ja"), ("belebele_deu_Latn", "de"), ("belebele_zho_Hans", "zh"),
        ("belebele_zho_Hant", "zh"), ("belebele_arb_Arab", "ar"), ("belebele_swh_Latn", "sw"),
        ("belebele_swa_prompt_1", "sw"), ("xnli_eu_mt", "eu"), ("lambada_openai_mt_de", "de"),
        ("arc_challenge_mt_da", "da"), ("mgsm_en_cot_bn", "bn"), ("mgsm_native_cot_zh", "zh"),
        ("global_mmlu_full_am_abstract_algebra", "am"), ("global_mmlu_full_fil", "tl"),
        ("paws_ja", "ja"), ("m_mmlu_nb", "nb"), ("tinymc_de", "de"), ("xnli_va", None),
        ("belebele_ceb_Latn", None), ("hellaswag", None), ("AraDiCE_boolq_msa", None),
    ],
)  # fmt: skip
def test_examples(name: str, lang: str | None) -> None:
    assert language_of_task(name) == lang


def test_code_spellings() -> None:
    assert [iso639_1(c) for c in ("de", "jp", "deu", "zho_Hans", "zh-CN", "pt_BR", "SWH")] == [
        "de", "ja", "de", "zh", "zh", "pt", "sw",
    ]  # fmt: skip
    assert iso639_1("xx") is None and iso639_1("ceb") is None and iso639_1("not a code") is None


def test_task_names_keeps_requested_order_and_skips_uncovered() -> None:
    assert task_names("xnli", ["zh", "ja", "de"]) == {"zh": "xnli_zh", "de": "xnli_de"}
