"""Normalize lm-eval task and language names to ISO 639-1 codes.

lm-eval names languages in many ways: two-letter codes (`xnli_de`), non-standard ones
(`xwinograd_jp`), FLORES-200 codes with a script (`belebele_deu_Latn`, `zho_Hans`) and ISO 639-3
codes (`belebele_swa_prompt_1`). Everything here is plain data, free of lm_eval imports.
"""

from __future__ import annotations

import re

from langprune.engine.spec.languages import LANGUAGES

# ISO 639-3 (and FLORES-200 macro-language members) -> ISO 639-1. Codes without an ISO 639-1
# equivalent (ceb, ilo, kac, kea, luo, nso, shn, war, ...) are absent on purpose: they have no
# two-letter code, so their rows get no language rather than a wrong one.
ISO639_3: dict[str, str] = {
    # Arabic varieties all fold into 'ar' (Modern Standard, Najdi, Moroccan, Egyptian, ...)
    "ara": "ar", "arb": "ar", "acm": "ar", "apc": "ar", "ars": "ar", "ary": "ar", "arz": "ar",
    "afr": "af", "als": "sq", "sqi": "sq", "amh": "am", "asm": "as", "azj": "az", "aze": "az",
    "bam": "bm", "bel": "be", "ben": "bn", "bod": "bo", "bos": "bs", "bul": "bg", "cat": "ca",
    "ces": "cs", "ckb": "ku", "kmr": "ku", "cym": "cy", "dan": "da", "deu": "de", "ell": "el",
    "eng": "en", "epo": "eo", "est": "et", "ekk": "et", "eus": "eu", "fin": "fi", "fra": "fr",
    "fuv": "ff", "gaz": "om", "gla": "gd", "gle": "ga", "glg": "gl", "grn": "gn", "guj": "gu",
    "hat": "ht", "hau": "ha", "heb": "he", "hin": "hi", "hrv": "hr", "hun": "hu", "hye": "hy",
    "ibo": "ig", "ind": "id", "isl": "is", "ita": "it", "jav": "jv", "jpn": "ja", "kan": "kn",
    "kat": "ka", "kaz": "kk", "khk": "mn", "mon": "mn", "khm": "km", "kin": "rw", "kir": "ky",
    "kor": "ko", "lao": "lo", "lin": "ln", "lit": "lt", "lug": "lg", "lvs": "lv", "lav": "lv",
    "ltz": "lb", "mal": "ml", "mar": "mr", "mkd": "mk", "mlt": "mt", "mri": "mi",
    "zsm": "ms", "mya": "my", "nld": "nl", "nob": "nb", "nno": "nn", "nor": "no", "npi": "ne",
    "nep": "ne", "nya": "ny", "oci": "oc", "ory": "or", "pan": "pa", "pbt": "ps", "pus": "ps",
    "pes": "fa", "fas": "fa", "prs": "fa", "plt": "mg", "mlg": "mg", "pol": "pl", "por": "pt",
    "ron": "ro", "rus": "ru", "sin": "si", "slk": "sk", "slv": "sl", "sna": "sn", "snd": "sd",
    "som": "so", "sot": "st", "spa": "es", "srp": "sr", "ssw": "ss", "sun": "su", "swe": "sv",
    "swa": "sw", "swh": "sw", "tam": "ta", "tat": "tt", "tel": "te", "tgk": "tg", "tgl": "tl",
    # Filipino has no ISO 639-1 code; it is standardized Tagalog, which does
    "fil": "tl",
    "tha": "th", "tir": "ti", "tsn": "tn", "tso": "ts", "tuk": "tk", "tur": "tr", "uig": "ug",
    "ukr": "uk", "urd": "ur", "uzn": "uz", "uzb": "uz", "vie": "vi", "wol": "wo", "xho": "xh",
    "yid": "yi", "yor": "yo", "zho": "zh", "zul": "zu",
}  # fmt: skip

# Two-letter names lm-eval uses that are not the ISO 639-1 code of the language meant.
ALIASES: dict[str, str] = {"jp": "ja", "cn": "zh"}

# Tokens that look like language codes but mean something else inside task names: 'mt' is
# "machine translated" (xnli_eu_mt, lambada_openai_mt_de), 'na' "not applicable" (AraDiCE), 'la'
# "Latin America" (mmmlu_es_la), 'msa' Modern Standard Arabic (not Malay, ISO 'msa').
NOT_LANGUAGES = frozenset({"mt", "na", "la", "msa"})

_FLORES = re.compile(r"(?:^|_)([a-z]{3})_[A-Z][a-z]{3}(?:_|$)")


def iso639_1(code: str) -> str | None:
    """One language code in any of lm-eval's spellings -> ISO 639-1, or None if unknown.

    Accepts 'de', 'jp', 'deu', 'deu_Latn', 'zho_Hans', 'zh-CN', 'pt_BR'.
    """
    code = code.strip()
    m = re.fullmatch(r"([A-Za-z]{2,3})(?:[_-]([A-Za-z]{2,4}))?", code)
    if not m:
        return None
    base = m.group(1).lower()
    if base in ALIASES:
        return ALIASES[base]
    if len(base) == 2:
        return base if base in LANGUAGES else None
    return ISO639_3.get(base)


def language_of_task(task_name: str) -> str | None:
    """The evaluation language of an lm-eval task, group or tag name, as ISO 639-1 (or None).

    Order: the known family tables, then a FLORES-200 code with a script anywhere in the name,
    then the right-most underscore-separated token that is a language code (right-most because
    prefixes name the benchmark: `mgsm_en_cot_bn` is Bengali with English chain of thought, and
    `global_mmlu_full_am_abstract_algebra` ends in a subject whose words are not codes).
    """
    from langprune.engine.spec.tasks import TASK_LANGUAGE

    if task_name in TASK_LANGUAGE:
        return TASK_LANGUAGE[task_name]
    m = _FLORES.search(task_name)
    if m:
        return ISO639_3.get(m.group(1))
    tokens = task_name.split("_")
    # the first token names the benchmark (never a language: 'id' in 'id_...' would be a guess)
    for token in reversed(tokens[1:]):
        if token in NOT_LANGUAGES:
            continue
        if token in ALIASES:
            return ALIASES[token]
        if len(token) == 2 and token in LANGUAGES:
            return token
        if len(token) == 3 and token in ISO639_3:
            return ISO639_3[token]
    return None
