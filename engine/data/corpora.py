"""Text corpora per language, from pluggable sources, split into calibration and held-out documents.

Sources (register more with `@register("name")`): `hf` (a Hugging Face dataset, streamed), `files`
(one file per language), `handbook` (the Debian Administrator's Handbook installed by Debian's
`debian-handbook` package) and `synthetic` (generated text: for smoke runs and tests only, it is
meaningless for research). A document belongs to exactly one part, so calibration and held-out text
never share a document.

Parallel corpora (the handbook: the same pages in every language; a `files` corpus with the option
`parallel = true`: the i-th document of every language file, or the records sharing `id_field`,
are translations of each other) are split by document identity, not content: a document is held
out in every language or in none, so no language's calibration text holds a translation of a
held-out document. `heldout_documents(lang, among)` then gives, for evaluation, only the held-out
documents present in every language of `among`, so the per-language numbers measure the same
content. Other corpora are split per language by content hash.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

from langprune.engine.spec.experiment import CorpusSpec
from langprune.errors import LangpruneError

Part = Literal["calibration", "heldout"]
PARTS = ("calibration", "heldout")


class CorpusError(LangpruneError, ValueError):
    """A corpus cannot give the text asked for (unknown language, missing data, too little text)."""


class Corpus:
    """Documents per language and part. Subclasses implement `_load(lang)`; `_split` keeps a
    deterministic share of documents (chosen by content hash) as held-out text."""

    source = "base"
    parallel = False  # documents are translations of each other across languages (_load_keyed)

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = dict(options)
        self.heldout_fraction = float(self.options.pop("heldout_fraction", 0.1))
        self._cache: dict[str, dict[str, list[str]]] = {}
        self._held_keys: dict[str, list[str]] = {}  # parallel corpora: held-out document ids
        self.memo: dict[Any, Any] = {}  # for users of the corpus, e.g. token ids per tokenizer

    @property
    def name(self) -> str:
        return self.source

    def languages(self) -> list[str] | None:
        """The languages this corpus has, or None when it cannot tell without loading (hf)."""
        return None

    def documents(self, lang: str, part: Part) -> list[str]:
        """The documents of one language in one part, in a fixed order."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, not {part!r}")
        if lang not in self._cache:
            self._cache[lang] = self._parts(lang)
        return self._cache[lang][part]

    def heldout_documents(self, lang: str, among: Sequence[str] = ()) -> list[str]:
        """The held-out documents of `lang` to evaluate: on a parallel corpus, only those whose
        translation is held out in every language of `among` too (the same content everywhere);
        otherwise all of `documents(lang, "heldout")`."""
        held = self.documents(lang, "heldout")
        if not self.parallel:
            return held
        common = set(self._held_keys[lang])
        for other in among:
            self.documents(other, "heldout")
            common &= set(self._held_keys[other])
        return [d for d, k in zip(held, self._held_keys[lang], strict=True) if k in common]

    def content_digest(self, languages: Sequence[str]) -> str:
        """sha256 (16 hex) of the held-out text evaluated for `languages` (heldout_documents):
        what a perplexity number depends on besides the model and the protocol."""
        h = hashlib.sha256()
        for lang in languages:
            h.update(f"\0lang:{lang}\0".encode())
            for doc in self.heldout_documents(lang, languages):
                h.update(hashlib.sha256(doc.encode()).digest())
        return h.hexdigest()[:16]

    def _parts(self, lang: str) -> dict[str, list[str]]:
        if not self.parallel:
            return _split(self._load(lang), self.heldout_fraction)
        keyed = [(k, d) for k, d in self._load_keyed(lang) if d.strip()]
        held = _held_ids([k for k, _ in keyed], self.heldout_fraction)
        held_docs = [(k, d) for k, d in keyed if k in held]
        held_text = {d for _, d in held_docs}
        self._held_keys[lang] = [k for k, _ in held_docs]
        return {
            # an identical text under another id stays out of calibration too
            "calibration": [d for k, d in keyed if k not in held and d not in held_text],
            "heldout": [d for _, d in held_docs],
        }

    def _load(self, lang: str) -> list[str]:
        raise NotImplementedError

    def _load_keyed(self, lang: str) -> list[tuple[str, str]]:
        """(document id shared by its translations, text) of a parallel corpus."""
        raise NotImplementedError

    def missing(self, lang: str, detail: str = "") -> CorpusError:
        have = self.languages()
        known = f"; it has: {', '.join(have)}" if have else ""
        return CorpusError(f"corpus {self.name!r} has no text in language {lang!r}{detail}{known}")


def _doc_key(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16) / 16**12


def _split(docs: list[str], heldout_fraction: float) -> dict[str, list[str]]:
    """Held-out = documents whose content hash falls below the fraction; identical documents share a
    part. With two or more distinct documents each part gets at least one."""
    docs = [d for d in docs if d.strip()]
    keys = {d: _doc_key(d) for d in docs}
    held = {d for d in keys if keys[d] < heldout_fraction}
    if len(keys) >= 2 and heldout_fraction > 0:
        if not held:
            held = {min(keys, key=keys.__getitem__)}
        if len(held) == len(keys):
            held.discard(max(keys, key=keys.__getitem__))
    return {
        "calibration": [d for d in docs if d not in held],
        "heldout": [d for d in docs if d in held],
    }


def _held_ids(ids: list[str], heldout_fraction: float) -> set[str]:
    """Held-out ids of a parallel corpus: those whose hash falls below the fraction, the same set
    in every language. With two or more ids each part gets at least one (a fallback that only
    small corpora reach, and which depends on the ids a language has)."""
    keys = {k: _doc_key(f"parallel-id:{k}") for k in ids}
    held = {k for k in keys if keys[k] < heldout_fraction}
    if len(keys) >= 2 and heldout_fraction > 0:
        if not held:
            held = {min(keys, key=keys.__getitem__)}
        if len(held) == len(keys):
            held.discard(max(keys, key=keys.__getitem__))
    return held


SOURCES: dict[str, Callable[[dict[str, Any]], Corpus]] = {}


def register(name: str) -> Callable[[type[Corpus]], type[Corpus]]:
    def add(cls: type[Corpus]) -> type[Corpus]:
        cls.source = name
        SOURCES[name] = cls
        return cls

    return add


def get_corpus(spec: CorpusSpec) -> Corpus:
    if spec.source not in SOURCES:
        raise CorpusError(f"unknown corpus source {spec.source!r} (known: {', '.join(SOURCES)})")
    return SOURCES[spec.source](dict(spec.options))


def describe_text(docs: list[str]) -> str:
    chars = sum(len(d) for d in docs)
    return f"{len(docs)} documents, {chars:,} characters"


# ---------------------------------------------------------------------------------------- hf


# mC4 as in the paper: allenai/c4's multilingual JSON shards, first train / validation shard
PAPER_HF = {
    "dataset": "allenai/c4",
    "data_files": "multilingual/c4-{lang}.tfrecord-00000-of-*.json.gz",
    "eval_data_files": "multilingual/c4-{lang}-validation.tfrecord-00000-of-*.json.gz",
    "text_field": "text",
}


@register("hf")
class HFCorpus(Corpus):
    """A Hugging Face dataset, streamed. Options: dataset, name (config; may contain {lang}), split,
    data_files / eval_data_files (may contain {lang}), eval_split, text_field, revision,
    max_documents, max_heldout_documents, streaming, heldout_fraction (when no held-out files/split)."""

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options or PAPER_HF)
        o = self.options
        if "dataset" not in o:
            raise CorpusError("corpus source 'hf' needs the option 'dataset' (e.g. 'allenai/c4')")
        self.dataset = str(o["dataset"])
        self.text_field = str(o.get("text_field", "text"))
        self.max_documents = int(o.get("max_documents", 20000))
        self.max_heldout = int(o.get("max_heldout_documents", 5000))

    @property
    def name(self) -> str:
        return f"hf:{self.dataset}"

    def _stream(
        self, lang: str, files: str | list[str] | None, split: str, limit: int
    ) -> list[str]:
        import datasets

        o = self.options
        fmt = _formatter(lang)
        kwargs: dict[str, Any] = {"split": split, "streaming": bool(o.get("streaming", True))}
        if o.get("name"):
            kwargs["name"] = fmt(o["name"])
        if files:
            kwargs["data_files"] = fmt(files)
        if o.get("revision"):
            kwargs["revision"] = o["revision"]
        try:
            ds = datasets.load_dataset(self.dataset, **kwargs)
            docs = []
            for row in ds:
                docs.append(str(row[self.text_field]))
                if len(docs) >= limit:
                    break
        except KeyError as e:
            raise CorpusError(
                f"corpus {self.name!r}: records have no field {self.text_field!r} "
                "(set the option text_field)"
            ) from e
        except Exception as e:  # datasets raises many types for "not there"
            hint = (
                " (no network or HF_HUB_OFFLINE=1: the dataset must already be in the local "
                "datasets cache; otherwise use the 'files' or 'handbook' source)"
                if _offline_error(e)
                else ""
            )
            raise CorpusError(
                f"corpus {self.name!r} has no text in language {lang!r}{hint}: "
                f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            ) from e
        if not docs:
            raise self.missing(lang, " (the dataset selection is empty)")
        return docs

    def _parts(self, lang: str) -> dict[str, list[str]]:
        o = self.options
        split = str(o.get("split", "train"))
        if o.get("eval_data_files") or o.get("eval_split"):
            eval_split = str(o.get("eval_split", "train" if o.get("eval_data_files") else split))
            held = self._stream(lang, o.get("eval_data_files"), eval_split, self.max_heldout)
            if not o.get("eval_data_files"):
                held = self._stream(lang, o.get("data_files"), eval_split, self.max_heldout)
            cal = self._stream(lang, o.get("data_files"), split, self.max_documents)
            # two splits of one dataset may still repeat a document: held-out wins
            seen = set(held)
            return {"calibration": [d for d in cal if d not in seen], "heldout": held}
        docs = self._stream(lang, o.get("data_files"), split, self.max_documents)
        return _split(docs, self.heldout_fraction)


def _formatter(lang: str) -> Callable[[Any], Any]:
    def fmt(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{lang}", lang)
        if isinstance(value, list):
            return [fmt(v) for v in value]
        if isinstance(value, dict):
            return {k: fmt(v) for k, v in value.items()}
        return value

    return fmt


def _offline_error(e: Exception) -> bool:
    text = f"{type(e).__name__} {e}".lower()
    return any(w in text for w in ("offline", "connection", "couldn't reach", "localentrynotfound"))


# ------------------------------------------------------------------------------------- files


@register("files")
class FilesCorpus(Corpus):
    """A folder with one file per language: `<lang>.txt` (documents separated by blank lines),
    `<lang>.jsonl` (a JSON object per line, option text_field) or `<lang>.parquet`."""

    SUFFIXES = (".txt", ".jsonl", ".parquet")

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        folder = self.options.get("path") or self.options.get("folder")
        if not folder:
            raise CorpusError("corpus source 'files' needs the option 'path' (a folder)")
        self.folder = Path(str(folder)).expanduser()
        if not self.folder.is_dir():
            raise CorpusError(f"corpus source 'files': {self.folder} is not a folder")
        self.text_field = str(self.options.get("text_field", "text"))
        parallel = self.options.get("parallel", False)
        if not isinstance(parallel, bool):
            raise CorpusError(
                f"corpus source 'files': option parallel must be true or false, not {parallel!r}"
            )
        self.parallel = parallel
        id_field = self.options.get("id_field")
        self.id_field = str(id_field) if id_field else None
        self._ids: list[str] = []  # the id_field values of the file read last

    @property
    def name(self) -> str:
        return f"files:{self.folder.name}"

    def languages(self) -> list[str]:
        return sorted({p.stem for p in self.folder.iterdir() if p.suffix in self.SUFFIXES})

    def _load(self, lang: str) -> list[str]:
        for suffix in self.SUFFIXES:
            path = self.folder / f"{lang}{suffix}"
            if path.exists():
                return self._read(path)
        raise self.missing(
            lang, f" (no {lang}.txt, {lang}.jsonl or {lang}.parquet in {self.folder})"
        )

    def _load_keyed(self, lang: str) -> list[tuple[str, str]]:
        """Parallel files: a document's id is its record's `id_field`, else its position."""
        docs = self._load(lang)
        if self.id_field is None:
            return [(str(i), d) for i, d in enumerate(docs)]
        return list(zip(self._ids, docs, strict=True))

    def _read(self, path: Path) -> list[str]:
        if path.suffix == ".txt":
            if self.id_field is not None:
                raise CorpusError(
                    f"{path}: option id_field needs .jsonl or .parquet files (a .txt file's "
                    "documents are matched by position)"
                )
            return [d.strip() for d in re.split(r"\n\s*\n", path.read_text(encoding="utf-8"))]
        if path.suffix == ".jsonl":
            rows = [
                json.loads(line)
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()
            ]
        else:
            import pyarrow.parquet as pq

            columns = [self.text_field] + ([self.id_field] if self.id_field else [])
            rows = pq.read_table(path, columns=columns).to_pylist()
        try:
            if self.id_field is not None:
                self._ids = [str(r[self.id_field]) for r in rows]
            return [str(r[self.text_field]) for r in rows]
        except KeyError as e:
            raise CorpusError(
                f"{path}: records have no field {e.args[0]!r} (set the option text_field / id_field)"
            ) from e


# ---------------------------------------------------------------------------------- handbook

HANDBOOK_ROOT = "/usr/share/doc/debian-handbook/html"
# where a language has several folders, the one used for its ISO 639-1 code
HANDBOOK_PREFERRED = {"zh": "zh-CN", "pt": "pt-BR", "no": "nb-NO", "nb": "nb-NO", "en": "en-US"}


@register("handbook")
class HandbookCorpus(Corpus):
    """The Debian Administrator's Handbook (HTML per language, `apt-get install debian-handbook`):
    one document per page, markup stripped, paragraphs left untranslated in English dropped.
    Parallel: a page is the same document (its file name) in every language."""

    parallel = True

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.root = Path(str(self.options.get("root", HANDBOOK_ROOT)))
        if not self.root.is_dir():
            raise CorpusError(
                f"corpus source 'handbook' needs Debian's handbook at {self.root}: install it with "
                "`apt-get install debian-handbook` (or set the option root)"
            )

    def folders(self) -> dict[str, str]:
        """ISO 639-1 code -> the handbook's language folder (ar -> ar-MA, de -> de-DE, ...)."""
        found = sorted(
            p.name for p in self.root.iterdir() if re.fullmatch(r"[a-z]{2}-[A-Z]{2}", p.name)
        )
        out: dict[str, str] = {}
        for folder in found:
            out.setdefault(folder[:2], folder)
        for code, folder in HANDBOOK_PREFERRED.items():
            if folder in found:
                out[code] = folder
        return out

    def languages(self) -> list[str]:
        return sorted(self.folders())

    def _load(self, lang: str) -> list[str]:
        return [d for _, d in self._load_keyed(lang)]

    def _load_keyed(self, lang: str) -> list[tuple[str, str]]:
        folder = self.folders().get(lang)
        if folder is None:
            raise self.missing(lang, f" (no folder for it under {self.root})")
        english = set() if lang == "en" else _english_paragraphs(str(self.root))
        docs = []
        for page in sorted((self.root / folder).glob("*.html")):
            paras = [
                p
                for p in html_paragraphs(page.read_text(encoding="utf-8"))
                if lang == "en" or (p not in english and not looks_english(p))
            ]
            if paras:
                docs.append((page.name, "\n".join(paras)))
        if not docs:
            raise self.missing(lang, f" (no translated text in {self.root / folder})")
        return docs


@lru_cache(maxsize=4)
def _english_paragraphs(root: str) -> frozenset[str]:
    en = Path(root) / "en-US"
    if not en.is_dir():
        return frozenset()
    return frozenset(
        p for page in en.glob("*.html") for p in html_paragraphs(page.read_text(encoding="utf-8"))
    )


# frequent English words that are not words of the handbook's other languages ("to" is Polish and
# Czech, "on" French, "an" German, "it" ... are left out)
_ENGLISH = frozenset(
    [
        "the",
        "and",
        "of",
        "is",
        "are",
        "that",
        "this",
        "which",
        "with",
        "for",
        "from",
        "be",
        "by",
        "will",
        "can",
        "should",
        "you",
        "your",
        "have",
        "has",
        "not",
        "was",
        "were",
        "been",
        "would",
        "there",
        "their",
        "they",
        "these",
        "those",
        "when",
        "what",
    ]
)


def looks_english(paragraph: str) -> bool:
    """A paragraph left untranslated: the handbook's English differs between editions, so an exact
    match with en-US misses some; English function words give them away."""
    words = re.findall(r"[A-Za-z']+", paragraph.lower())
    hits = sum(w in _ENGLISH for w in words)
    return hits >= 2 and hits >= 0.12 * len(paragraph.split())


_BLOCKS = {
    "p",
    "li",
    "dt",
    "dd",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "td",
    "th",
    "caption",
    "div",
    "title",
    "br",
}
_SKIP_TAGS = {"script", "style", "pre", "head"}
_SKIP_CLASSES = {"docnav", "toc", "programlisting", "screen"}
_SKIP_IDS = {"banner", "title"}
_VOID = {"img", "br", "meta", "link", "hr", "input", "col", "area", "base", "wbr"}


class _Paragraphs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, skipped)
        self.buf: list[str] = []
        self.out: list[str] = []

    def _skipping(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def _flush(self) -> None:
        text = " ".join("".join(self.buf).split())
        self.buf = []
        if text and any(ch.isalpha() for ch in text):
            self.out.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self._flush()
        if tag in _VOID:
            return
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        skip = (
            self._skipping()
            or tag in _SKIP_TAGS
            or bool(classes & _SKIP_CLASSES)
            or a.get("id") in _SKIP_IDS
        )
        self.stack.append((tag, skip))

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self._flush()
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if not self._skipping():
            self.buf.append(data)


def html_paragraphs(html: str) -> list[str]:
    """Visible paragraphs of one handbook page: navigation, tables of contents and code removed."""
    parser = _Paragraphs()
    parser.feed(html)
    parser.close()
    parser._flush()
    return parser.out


# --------------------------------------------------------------------------------- synthetic

_LATIN = "abcdefghijklmnopqrstuvwxyz"
_SCRIPTS: dict[str, tuple[str, ...]] = {
    _LATIN: (),  # default
    "абвгдежзийклмнопрстуфхцчшщыьэюя": (
        "ru",
        "uk",
        "bg",
        "sr",
        "be",
        "kk",
        "mk",
        "mn",
        "ky",
        "tg",
        "tt",
    ),
    "ابتثجحخدذرزسشصضطظعغفقكلمنهوي": ("ar", "fa", "ur", "ps", "ug", "sd", "ku"),
    "אבגדהוזחטיכלמנסעפצקרשת": ("he", "yi"),
    "αβγδεζηθικλμνξοπρστυφχψω": ("el",),
    "अआइउएओकखगघचछजझटडतथदधनपफबभमयरलवशसह": ("hi", "mr", "ne", "sa"),
    "অআইউএওকখগঘচছজঝটডতথদধনপফবভমযরলশসহ": ("bn", "as"),
    "அஆஇஉஎஒகஙசஞடணதநபமயரலவழளறன": ("ta",),
    "กขคงจฉชซญดตถทนบปผพฟภมยรลวศสหอฮ": ("th",),
    "აბგდევზთიკლმნოპჟრსტუფქღყშჩცძწჭხჯჰ": ("ka",),
    "աբգդեզէըթժիլխծկհձղճմյնշոչպջռսվտրցւփքօֆ": ("hy",),
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴切随居": (
        "zh",
    ),
    "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんアイウエオカキクケコサシスセソ日本語人大年中出": (
        "ja",
    ),
}
_NO_SPACES = {"zh", "ja", "th"}
_EXTRA_LETTERS = {
    "de": "äöüß",
    "es": "ñáéíóú",
    "fr": "éèàçêù",
    "pt": "ãõçáéê",
    "it": "àèìòù",
    "pl": "ąćęłńóśźż",
    "tr": "çğıöşü",
    "sv": "åäö",
    "cs": "čďěňřšťůž",
    "vi": "ăâđêôơư",
}


def _alphabet(lang: str) -> str:
    if lang == "ko":
        return "".join(chr(0xAC00 + 28 * i) for i in range(0, 399, 7))  # Hangul syllables
    for letters, langs in _SCRIPTS.items():
        if lang in langs:
            return letters
    return _LATIN + _EXTRA_LETTERS.get(lang, "")


@register("synthetic")
class SyntheticCorpus(Corpus):
    """Deterministic pseudo-text per language in that language's script (words drawn from a Zipf-like
    per-language vocabulary). For smoke runs, tests and benchmarks only: meaningless for research.
    Options: documents (default 200), words (per document, default 400)."""

    def languages(self) -> list[str]:
        from langprune.engine.spec.languages import LANGUAGES

        return sorted(LANGUAGES)

    def _load(self, lang: str) -> list[str]:
        from langprune.engine.spec.languages import LANGUAGES

        if lang not in LANGUAGES:
            raise self.missing(lang, " (not an ISO 639-1 code)")
        letters = _alphabet(lang)
        vocab_rng = random.Random(f"vocab:{lang}")
        vocab = [
            "".join(
                vocab_rng.choices(letters, k=vocab_rng.randint(1, 4 if lang in _NO_SPACES else 9))
            )
            for _ in range(400)
        ]
        weights = [1 / (rank + 1) for rank in range(len(vocab))]
        sep = "" if lang in _NO_SPACES else " "
        stop = "。" if lang in ("zh", "ja") else "."
        n_docs = int(self.options.get("documents", 200))
        n_words = int(self.options.get("words", 400))
        docs = []
        for d in range(n_docs):
            rng = random.Random(f"doc:{lang}:{d}")
            sentences, left = [], rng.randint(n_words // 2, n_words * 3 // 2)
            while left > 0:
                k = min(left, rng.randint(4, 16))
                words = rng.choices(vocab, weights=weights, k=k)
                sentence = sep.join(words)
                sentences.append(sentence[:1].upper() + sentence[1:] + stop)
                left -= k
            docs.append(sep.join(sentences))
        return docs
