"""lm-evaluation-harness task families as data: family -> {ISO 639-1 code: lm-eval task name}.

Kept free of lm_eval imports so that specs validate instantly. The end of the module builds the
one task index (families + shipped presets/tasks + task_paths) used by validation and evaluation. Every name here was checked against
the task index of the installed lm-eval (0.4.13 at first, MMLU-ProX, Global PIQA, MMMLU, XQuAD,
MLQA and AfroBench later) (`tests/engine/eval/test_lang_names.py` re-checks them against whatever
lm-eval is installed). A value may be a task (`xnli_de`) or a group (`global_mmlu_de`, whose
aggregate is reported).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


def _same(prefix: str, codes: str, rename: dict[str, str] | None = None) -> dict[str, str]:
    rename = rename or {}
    return {rename.get(c, c): f"{prefix}{c}" for c in codes.split()}


# Okapi's machine-translated ARC / HellaSwag / MMLU (tags arc_multilingual, hellaswag_multilingual,
# m_mmlu). The three sets differ: HellaSwag has no zh, MMLU adds is and nb.
_OKAPI = "ar bn ca da de es eu fr gu hi hr hu hy id it kn ml mr ne nl pt ro ru sk sr sv ta te uk vi"

# Belebele uses FLORES-200 codes; one variant per ISO 639-1 code (native script, the standard
# variety: Modern Standard Arabic, Simplified Chinese, Swahili swh, Persian pes, Nepali npi).
_BELEBELE = {
    "af": "afr_Latn", "am": "amh_Ethi", "ar": "arb_Arab", "as": "asm_Beng", "az": "azj_Latn",
    "bg": "bul_Cyrl", "bm": "bam_Latn", "bn": "ben_Beng", "bo": "bod_Tibt", "ca": "cat_Latn",
    "cs": "ces_Latn", "da": "dan_Latn", "de": "deu_Latn", "el": "ell_Grek", "en": "eng_Latn",
    "es": "spa_Latn", "et": "est_Latn", "eu": "eus_Latn", "fa": "pes_Arab", "fi": "fin_Latn",
    "fr": "fra_Latn", "gu": "guj_Gujr", "ha": "hau_Latn", "he": "heb_Hebr", "hi": "hin_Deva",
    "hr": "hrv_Latn", "hu": "hun_Latn", "hy": "hye_Armn", "id": "ind_Latn", "ig": "ibo_Latn",
    "is": "isl_Latn", "it": "ita_Latn", "ja": "jpn_Jpan", "jv": "jav_Latn", "ka": "kat_Geor",
    "kk": "kaz_Cyrl", "km": "khm_Khmr", "kn": "kan_Knda", "ko": "kor_Hang", "ky": "kir_Cyrl",
    "lo": "lao_Laoo", "lt": "lit_Latn", "lv": "lvs_Latn", "mk": "mkd_Cyrl", "ml": "mal_Mlym",
    "mn": "khk_Cyrl", "mr": "mar_Deva", "ms": "zsm_Latn", "mt": "mlt_Latn", "my": "mya_Mymr",
    "nb": "nob_Latn", "ne": "npi_Deva", "nl": "nld_Latn", "pa": "pan_Guru", "pl": "pol_Latn",
    "ps": "pbt_Arab", "pt": "por_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl", "si": "sin_Sinh",
    "sk": "slk_Latn", "sl": "slv_Latn", "so": "som_Latn", "sr": "srp_Cyrl", "sv": "swe_Latn",
    "sw": "swh_Latn", "ta": "tam_Taml", "te": "tel_Telu", "th": "tha_Thai", "tl": "tgl_Latn",
    "tr": "tur_Latn", "uk": "ukr_Cyrl", "ur": "urd_Arab", "uz": "uzn_Latn", "vi": "vie_Latn",
    "yo": "yor_Latn", "zh": "zho_Hans", "zu": "zul_Latn",
}  # fmt: skip

_GLOBAL_MMLU_FULL = (
    "am ar bn cs de el en es fa fr ha he hi id ig it ja ko ky lt mg ms ne nl ny pl pt ro ru si sn "
    "so sr sv sw te tr uk vi yo zh"
)

# MMLU-ProX (a group per language; the lite set is 658 questions of each).
_MMLU_PROX = (
    "af ar bn cs de en es fr hi hu id it ja ko mr ne pt ru sr sw te th uk ur vi wo yo zh zu"
)

# Global PIQA, parallel split (the same items in every language): one variety per ISO 639-1 code,
# the standard one (Modern Standard Arabic, Spanish of Spain, French of France, European
# Portuguese, Simplified Mandarin, Cyrillic Serbian, native scripts).
_GLOBAL_PIQA = {
    "am": "amh_ethi", "ar": "arb_arab", "az": "azj_latn", "be": "bel_cyrl", "bg": "bul_cyrl",
    "bm": "bam_latn", "bn": "ben_beng", "ca": "cat_latn", "cs": "ces_latn", "da": "dan_latn",
    "de": "deu_latn", "el": "ell_grek", "en": "eng_latn", "es": "spa_latn_spai", "et": "ekk_latn",
    "eu": "eus_latn", "fa": "pes_arab", "fi": "fin_latn", "fo": "fao_latn", "fr": "fra_latn_fran",
    "gl": "glg_latn", "gu": "guj_gujr", "ha": "hau_latn", "he": "heb_hebr", "hi": "hin_deva",
    "hr": "hrv_latn", "hu": "hun_latn", "hy": "hye_armn", "id": "ind_latn", "ig": "ibo_latn",
    "is": "isl_latn", "it": "ita_latn", "ja": "jpn_jpan", "jv": "jav_latn", "ka": "kat_geor",
    "kn": "kan_knda", "ko": "kor_hang", "ky": "kir_cyrl", "ln": "lin_latn", "lt": "lit_latn",
    "mg": "plt_latn", "mk": "mkd_cyrl", "ml": "mal_mlym", "mr": "mar_deva", "ms": "zsm_latn",
    "nb": "nob_latn", "ne": "npi_deva", "nl": "nld_latn", "nn": "nno_latn", "or": "ory_orya",
    "pa": "pan_guru", "pl": "pol_latn", "pt": "por_latn_port", "ro": "ron_latn", "ru": "rus_cyrl",
    "rw": "kin_latn", "sd": "snd_arab", "si": "sin_sinh", "sk": "slk_latn", "sl": "slv_latn",
    "sq": "als_latn", "sr": "srp_cyrl", "sv": "swe_latn", "sw": "swh_latn", "ta": "tam_taml",
    "te": "tel_telu", "th": "tha_thai", "tl": "tgl_latn", "tr": "tur_latn", "ug": "uig_arab",
    "uk": "ukr_cyrl", "ur": "urd_arab", "uz": "uzn_latn", "vi": "vie_latn", "xh": "xho_latn",
    "yo": "yor_latn", "zh": "cmn_hans", "zu": "zul_latn",
}  # fmt: skip

# OpenAI's MMMLU (professional translations of MMLU; a group per locale, no English or Russian).
_MMMLU = {
    "ar": "ar_xy", "bn": "bn_bd", "de": "de_de", "es": "es_la", "fr": "fr_fr", "hi": "hi_in",
    "id": "id_id", "it": "it_it", "ja": "ja_jp", "ko": "ko_kr", "pt": "pt_br", "sw": "sw_ke",
    "yo": "yo_ng", "zh": "zh_cn",
}  # fmt: skip

TASK_FAMILIES: dict[str, dict[str, str]] = {
    "belebele": {lang: f"belebele_{code}" for lang, code in _BELEBELE.items()},
    "xnli": _same("xnli_", "ar bg de el en es fr hi ru sw th tr ur vi zh"),
    "xstorycloze": _same("xstorycloze_", "ar en es eu hi id my ru sw te zh"),
    "xcopa": _same("xcopa_", "et ht id it qu sw ta th tr vi zh"),
    "xwinograd": _same("xwinograd_", "en fr jp pt ru zh", {"jp": "ja"}),
    "pawsx": _same("paws_", "de en es fr ja ko zh"),
    "m_mmlu": _same("m_mmlu_", f"{_OKAPI} en is nb zh"),
    "arc_multilingual": _same("arc_", f"{_OKAPI} zh"),
    "hellaswag_multilingual": _same("hellaswag_", _OKAPI),
    # Global-MMLU Lite (a group per language, 400 questions); the full set is global_mmlu_full
    "global_mmlu": _same("global_mmlu_", "ar bn de en es fr hi id it ja ko pt sw yo zh"),
    "global_mmlu_full": {
        **_same("global_mmlu_full_", _GLOBAL_MMLU_FULL),
        "tl": "global_mmlu_full_fil",
    },
    "lambada_multilingual": _same("lambada_openai_mt_", "de en es fr it"),
    "mgsm": _same("mgsm_direct_", "bn de en es fr ja ru sw te th zh"),
    "mmlu_prox": _same("mmlu_prox_", _MMLU_PROX),
    "mmlu_prox_lite": _same("mmlu_prox_lite_", _MMLU_PROX),
    "global_piqa": {
        lang: f"global_piqa_parallel_cloze_{code}" for lang, code in _GLOBAL_PIQA.items()
    },
    "mmmlu": {lang: f"mmmlu_{slug}" for lang, slug in _MMMLU.items()},
    # extractive QA, generated answers (exact match, F1); no Swahili in either
    "xquad": _same("xquad_", "ar de el en es hi ro ru th tr vi"),
    "mlqa": {lang: f"mlqa_{lang}_{lang}" for lang in ("ar", "de", "en", "es", "hi", "vi", "zh")},
    # AfroBench (prompt 1 of its five): knowledge, inference and reasoning in Swahili and English
    "afrimmlu": {"en": "afrimmlu_direct_eng_prompt_1", "sw": "afrimmlu_direct_swa_prompt_1"},
    "afrixnli": {"en": "afrixnli_eng_prompt_1", "sw": "afrixnli_swa_prompt_1"},
    "uhura_arc_easy": {"en": "uhura-arc-easy_en_prompt_1", "sw": "uhura-arc-easy_sw_prompt_1"},
}

# lm-eval task name -> ISO 639-1, for every name above.
TASK_LANGUAGE: dict[str, str] = {
    task: lang for table in TASK_FAMILIES.values() for lang, task in table.items()
}


def task_names(family: str, languages: list[str]) -> dict[str, str]:
    """The lm-eval task per language for the languages this family covers."""
    table = TASK_FAMILIES[family]
    return {lang: table[lang] for lang in languages if lang in table}


# ------------------------------------------------------------------------------ the task index
# ONE index of the task names a preset may use, read by validation (spec) and evaluation
# (eval/tasks.py) alike: the families above, plus every task and group declared by the lm-eval
# YAML files shipped in `presets/tasks` (always indexed) and under the experiment's task_paths.


def shipped_task_dir() -> Path:
    """The folder of task YAMLs shipped with langprune (`presets/tasks`)."""
    return Path(str(resources.files("langprune.presets"))).resolve() / "tasks"


def task_search_paths(paths: Iterable[str | Path] = ()) -> tuple[str, ...]:
    """The folders lm-eval indexes for local tasks: the shipped one first, then `paths` (resolved,
    without repeats)."""
    out = [str(shipped_task_dir())]
    for p in paths:
        resolved = str(Path(p).expanduser().resolve())
        if resolved not in out:
            out.append(resolved)
    return tuple(out)


_DECLARED = re.compile(r"^(task|group):\s*['\"]?([\w.-]+)")


def local_task_names(paths: Iterable[str | Path]) -> list[str]:
    """Task and group names declared by lm-eval YAML files under the given folders (no lm_eval)."""
    names = []
    for folder in paths:
        for yaml_file in sorted(Path(folder).expanduser().glob("**/*.yaml")):
            for line in yaml_file.read_text(encoding="utf-8").splitlines():
                m = _DECLARED.match(line)
                if m:
                    names.append(m.group(2))
    return names


@dataclass(frozen=True)
class TaskIndex:
    """The task names a preset may name: built-in families, and local tasks/groups by folder."""

    families: frozenset[str]
    local: frozenset[str]

    def knows(self, name: str) -> bool:
        return name in self.families or name in self.local

    def allowed(self) -> list[str]:
        return sorted(self.families | self.local)


def task_index(task_paths: Iterable[str | Path] = ()) -> TaskIndex:
    """The index over TASK_FAMILIES, the shipped presets/tasks and `task_paths`."""
    local = local_task_names(task_search_paths(task_paths))
    return TaskIndex(frozenset(TASK_FAMILIES), frozenset(local))
