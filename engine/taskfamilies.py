"""lm-evaluation-harness task families as data: family -> {ISO 639-1 code: lm-eval task name}.

Kept free of lm_eval imports so that specs validate instantly; tests check every name here against
the installed lm-eval's task index.
"""

from __future__ import annotations


def _same(prefix: str, codes: str, rename: dict[str, str] | None = None) -> dict[str, str]:
    rename = rename or {}
    return {rename.get(c, c): f"{prefix}{c}" for c in codes.split()}


_OKAPI = (
    "ar bn ca da de es eu fr gu hi hr hu hy id it kn ml mr ne nl pt ro ru sk sr sv ta te uk vi zh"
)

# Belebele uses FLORES-200 codes; these are the ones with an ISO 639-1 code we care about.
_BELEBELE = {
    "ar": "arb_Arab", "bn": "ben_Beng", "de": "deu_Latn", "el": "ell_Grek", "en": "eng_Latn",
    "es": "spa_Latn", "fa": "pes_Arab", "fi": "fin_Latn", "fr": "fra_Latn", "he": "heb_Hebr",
    "hi": "hin_Deva", "id": "ind_Latn", "it": "ita_Latn", "ja": "jpn_Jpan", "ko": "kor_Hang",
    "nl": "nld_Latn", "pl": "pol_Latn", "pt": "por_Latn", "ru": "rus_Cyrl", "sw": "swh_Latn",
    "th": "tha_Thai", "tr": "tur_Latn", "uk": "ukr_Cyrl", "ur": "urd_Arab", "vi": "vie_Latn",
    "yo": "yor_Latn", "zh": "zho_Hans",
}  # fmt: skip

TASK_FAMILIES: dict[str, dict[str, str]] = {
    "belebele": {lang: f"belebele_{code}" for lang, code in _BELEBELE.items()},
    "xnli": _same("xnli_", "ar bg de el en es fr hi ru sw th tr ur vi zh"),
    "xstorycloze": _same("xstorycloze_", "ar en es eu hi id my ru sw te zh"),
    "xcopa": _same("xcopa_", "et ht id it qu sw ta th tr vi zh"),
    "xwinograd": _same("xwinograd_", "en fr jp pt ru zh", {"jp": "ja"}),
    "pawsx": _same("paws_", "de en es fr ja ko zh"),
    "m_mmlu": _same("m_mmlu_", _OKAPI),
    "arc_multilingual": _same("arc_", _OKAPI),
    "hellaswag_multilingual": _same("hellaswag_", _OKAPI),
    "global_mmlu": _same("global_mmlu_", "ar bn de en es fr hi id it ja ko pt sw yo zh"),
    "lambada_multilingual": _same("lambada_openai_mt_", "de en es fr it"),
    "mgsm": _same("mgsm_direct_", "bn de en es fr ja ru sw te th zh"),
}


def task_names(family: str, languages: list[str]) -> dict[str, str]:
    """The lm-eval task per language for the languages this family covers."""
    table = TASK_FAMILIES[family]
    return {lang: table[lang] for lang in languages if lang in table}
