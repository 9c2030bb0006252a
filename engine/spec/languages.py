"""ISO 639-1 language codes with English names, and calibration-language parsing."""

from __future__ import annotations

import difflib

from langprune.vocab import MIX_SEPARATOR, mix_parts

_TABLE = """
aa Afar|ab Abkhazian|af Afrikaans|ak Akan|am Amharic|an Aragonese|ar Arabic|as Assamese|av Avaric|
ay Aymara|az Azerbaijani|ba Bashkir|be Belarusian|bg Bulgarian|bi Bislama|bm Bambara|bn Bengali|
bo Tibetan|br Breton|bs Bosnian|ca Catalan|ce Chechen|ch Chamorro|co Corsican|cr Cree|cs Czech|
cu Church Slavic|cv Chuvash|cy Welsh|da Danish|de German|dv Divehi|dz Dzongkha|ee Ewe|el Greek|
en English|eo Esperanto|es Spanish|et Estonian|eu Basque|fa Persian|ff Fulah|fi Finnish|fj Fijian|
fo Faroese|fr French|fy Western Frisian|ga Irish|gd Scottish Gaelic|gl Galician|gn Guarani|
gu Gujarati|gv Manx|ha Hausa|he Hebrew|hi Hindi|ho Hiri Motu|hr Croatian|ht Haitian|hu Hungarian|
hy Armenian|hz Herero|ia Interlingua|id Indonesian|ie Interlingue|ig Igbo|ii Sichuan Yi|ik Inupiaq|
io Ido|is Icelandic|it Italian|iu Inuktitut|ja Japanese|jv Javanese|ka Georgian|kg Kongo|ki Kikuyu|
kj Kuanyama|kk Kazakh|kl Kalaallisut|km Khmer|kn Kannada|ko Korean|kr Kanuri|ks Kashmiri|
ku Kurdish|kv Komi|kw Cornish|ky Kyrgyz|la Latin|lb Luxembourgish|lg Ganda|li Limburgish|
ln Lingala|lo Lao|lt Lithuanian|lu Luba-Katanga|lv Latvian|mg Malagasy|mh Marshallese|mi Maori|
mk Macedonian|ml Malayalam|mn Mongolian|mr Marathi|ms Malay|mt Maltese|my Burmese|na Nauru|
nb Norwegian Bokmal|nd North Ndebele|ne Nepali|ng Ndonga|nl Dutch|nn Norwegian Nynorsk|
no Norwegian|nr South Ndebele|nv Navajo|ny Chichewa|oc Occitan|oj Ojibwa|om Oromo|or Odia|
os Ossetian|pa Punjabi|pi Pali|pl Polish|ps Pashto|pt Portuguese|qu Quechua|rm Romansh|rn Rundi|
ro Romanian|ru Russian|rw Kinyarwanda|sa Sanskrit|sc Sardinian|sd Sindhi|se Northern Sami|
sg Sango|si Sinhala|sk Slovak|sl Slovenian|sm Samoan|sn Shona|so Somali|sq Albanian|sr Serbian|
ss Swati|st Southern Sotho|su Sundanese|sv Swedish|sw Swahili|ta Tamil|te Telugu|tg Tajik|th Thai|
ti Tigrinya|tk Turkmen|tl Tagalog|tn Tswana|to Tonga|tr Turkish|ts Tsonga|tt Tatar|tw Twi|
ty Tahitian|ug Uyghur|uk Ukrainian|ur Urdu|uz Uzbek|ve Venda|vi Vietnamese|vo Volapuk|wa Walloon|
wo Wolof|xh Xhosa|yi Yiddish|yo Yoruba|za Zhuang|zh Chinese|zu Zulu
"""

LANGUAGES: dict[str, str] = dict(
    entry.strip().split(" ", 1) for entry in _TABLE.replace("\n", "").split("|") if entry.strip()
)

# The calibration languages of Kurz et al. (2024), offered first in the TUI.
PAPER_LANGUAGES = ("ar", "de", "en", "es", "ru", "sw", "zh")


def language_name(code: str) -> str:
    """English name of an ISO 639-1 code, or of a mix such as 'en+de'."""
    return " + ".join(LANGUAGES.get(part, part) for part in mix_parts(code))


def check_code(code: object) -> str:
    """Return the code if it is ISO 639-1, else raise ValueError with a suggestion."""
    if not isinstance(code, str):
        raise ValueError(f"{code!r} is not a language code (expected a string such as 'en')")
    if code in LANGUAGES:
        return code
    lowered = code.strip().lower()
    if lowered in LANGUAGES:
        raise ValueError(f"{code!r} is not an ISO 639-1 code; write it as {lowered!r}")
    by_name = {name.lower(): c for c, name in LANGUAGES.items()}
    if lowered in by_name:
        raise ValueError(
            f"{code!r} is a language name; use its ISO 639-1 code {by_name[lowered]!r}"
        )
    close = difflib.get_close_matches(lowered, list(LANGUAGES), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(
        f"{code!r} is not an ISO 639-1 code{hint} (allowed: two-letter codes such as ar, de, en, "
        "es, ru, sw, zh)"
    )


def parse_calibration_language(value: object) -> str:
    """Validate a calibration language: one code ('de') or an equal-share mix ('en+de').

    A mix is returned canonical, its languages in alphabetical order: 'en+de' and 'de+en' are the
    same calibration data, so they are one cell with one run id ('de+en').
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r} is not a language code (expected 'en' or a mix like 'en+de')")
    parts = mix_parts(value)
    for part in parts:
        check_code(part)
    if len(set(parts)) != len(parts):
        raise ValueError(f"mix {value!r} names a language twice")
    return MIX_SEPARATOR.join(sorted(parts))
