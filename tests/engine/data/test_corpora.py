"""Corpus sources and the calibration sampler, on files the tests write (and the real handbook)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from langprune.engine.data.calibration import sample_calibration
from langprune.engine.data.corpora import (
    HANDBOOK_ROOT,
    PAPER_HF,
    CorpusError,
    get_corpus,
    html_paragraphs,
)
from langprune.engine.models.byte_tokenizer import make_byte_tokenizer
from langprune.engine.spec.experiment import CorpusSpec


@pytest.fixture(scope="module")
def tok():
    return make_byte_tokenizer()


def docs_for(lang: str, n: int = 40, words: int = 60) -> list[str]:
    return [" ".join(f"{lang}{d}w{i}" for i in range(words)) for d in range(n)]


def assert_disjoint(corpus, lang: str) -> None:
    cal, held = corpus.documents(lang, "calibration"), corpus.documents(lang, "heldout")
    assert cal and held
    assert not set(cal) & set(held)


# ------------------------------------------------------------------------------------ files


def test_files_source_reads_txt_jsonl_parquet(tmp_path: Path) -> None:
    (tmp_path / "en.txt").write_text("\n\n".join(docs_for("en")), encoding="utf-8")
    (tmp_path / "de.jsonl").write_text(
        "\n".join(json.dumps({"content": d}) for d in docs_for("de")), encoding="utf-8"
    )
    pq.write_table(pa.table({"content": docs_for("ru")}), tmp_path / "ru.parquet")
    corpus = get_corpus(
        CorpusSpec(source="files", options={"path": str(tmp_path), "text_field": "content"})
    )
    assert corpus.languages() == ["de", "en", "ru"]
    for lang in ("en", "de", "ru"):
        everything = corpus.documents(lang, "calibration") + corpus.documents(lang, "heldout")
        assert sorted(everything) == sorted(docs_for(lang))
        assert_disjoint(corpus, lang)
    with pytest.raises(CorpusError, match=r"'sw'.*it has: de, en, ru"):
        corpus.documents("sw", "calibration")


def test_files_source_names_a_missing_text_field(tmp_path: Path) -> None:
    (tmp_path / "en.jsonl").write_text(json.dumps({"body": "x"}) + "\n", encoding="utf-8")
    corpus = get_corpus(CorpusSpec(source="files", options={"path": str(tmp_path)}))
    with pytest.raises(CorpusError, match="no field 'text'"):
        corpus.documents("en", "calibration")


# --------------------------------------------------------------------------------------- hf


def write_c4_like(root: Path) -> None:
    """Local files laid out as allenai/c4's multilingual shards, so the paper options work."""
    (root / "multilingual").mkdir(parents=True)
    for lang in ("de", "en"):
        for name, docs in (
            (f"c4-{lang}.tfrecord-00000-of-01024.json.gz", docs_for(lang)),
            (f"c4-{lang}-validation.tfrecord-00000-of-00004.json.gz", docs_for(f"v{lang}", 5)),
        ):
            with gzip.open(root / "multilingual" / name, "wt", encoding="utf-8") as f:
                for d in docs:
                    f.write(json.dumps({"text": d, "url": "u"}) + "\n")


def test_hf_source_through_local_files_with_the_paper_options(tmp_path: Path) -> None:
    write_c4_like(tmp_path)
    corpus = get_corpus(CorpusSpec(source="hf", options={**PAPER_HF, "dataset": str(tmp_path)}))
    assert corpus.documents("de", "calibration") == docs_for("de")
    assert corpus.documents("de", "heldout") == docs_for("vde", 5)
    assert_disjoint(corpus, "en")
    with pytest.raises(CorpusError, match="'sw'"):
        corpus.documents("sw", "calibration")


def test_hf_source_splits_one_stream_when_no_heldout_files(tmp_path: Path) -> None:
    write_c4_like(tmp_path)
    options = {
        "dataset": str(tmp_path),
        "data_files": "multilingual/c4-{lang}.tfrecord-*.json.gz",
        "max_documents": 30,
    }
    corpus = get_corpus(CorpusSpec(source="hf", options=options))
    cal, held = corpus.documents("en", "calibration"), corpus.documents("en", "heldout")
    assert sorted(cal + held) == sorted(docs_for("en")[:30])
    assert_disjoint(corpus, "en")


def test_hf_hub_dataset_offline_says_so() -> None:
    corpus = get_corpus(CorpusSpec(source="hf"))  # the paper default: allenai/c4 on the Hub
    with pytest.raises(CorpusError, match=r"allenai/c4.*'de'.*(HF_HUB_OFFLINE|network)"):
        corpus.documents("de", "calibration")


# --------------------------------------------------------------------------------- handbook

PAGE = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "x"><html xmlns="http://www.w3.org/1999/xhtml">
<head><title>{title}</title><link rel="stylesheet" href="x.css" /></head><body>
<div id="banner"><a href="x"><span class="text">Download the ebook</span></a></div>
<p id="title"><a class="left" href="x"><img alt="Product Site" src="x.png" /></a></p>
<ul class="docnav top"><li class="previous"><a href="x"><strong>{prev}</strong></a></li></ul>
<div class="chapter"><div class="titlepage"><h1 class="title">{title}</h1></div>
<div class="toc"><dl class="toc"><dt><span class="section"><a href="x">1.1. {title}</a></span></dt></dl></div>
<div class="para">{para}</div>
<div class="para">{untranslated}</div>
<pre class="screen"><code class="computeroutput">$ apt-get install debian-handbook</code></pre>
<p>{para2} <code class="command">apt</code> &amp; mehr.</p>
</div></body></html>"""

ENGLISH = "This paragraph was never translated by the team of volunteers."
EN_PAGE = dict(
    title="Chapter 1",
    prev="Prev",
    para="The Debian project is a worldwide community.",
    untranslated=ENGLISH,
    para2="Use the package manager",
)


def write_handbook(root: Path) -> None:
    pages = {
        "en-US": [EN_PAGE],
        "de-DE": [
            dict(
                title="Kapitel 1",
                prev="Zurück",
                para="Das Debian-Projekt ist eine weltweite Gemeinschaft.",
                untranslated=ENGLISH,
                para2="Benutzen Sie die Paketverwaltung",
            ),
            dict(
                title="Kapitel 2",
                prev="Zurück",
                para="Ein zweites Kapitel über Pakete und Rechner.",
                untranslated="An English sentence that is not in the English edition of the book.",
                para2="Noch ein Absatz",
            ),
        ],
        "zh-CN": [dict(EN_PAGE, title="第 1 章", para="Debian 项目是一个全球社区。", para2="使用")],
        "zh-TW": [dict(EN_PAGE, title="第 1 章", para="Debian 專案是一個全球社群。", para2="使用")],
    }
    for folder, docs in pages.items():
        (root / folder).mkdir(parents=True)
        for i, fields in enumerate(docs):
            (root / folder / f"page{i}.html").write_text(PAGE.format(**fields), encoding="utf-8")


def test_handbook_source_on_pages_in_its_format(tmp_path: Path) -> None:
    write_handbook(tmp_path)
    corpus = get_corpus(CorpusSpec(source="handbook", options={"root": str(tmp_path)}))
    assert corpus.folders() == {"de": "de-DE", "en": "en-US", "zh": "zh-CN"}
    de = corpus.documents("de", "calibration") + corpus.documents("de", "heldout")
    assert len(de) == 2
    text = "\n".join(de)
    assert "Das Debian-Projekt ist eine weltweite Gemeinschaft." in text
    assert "Benutzen Sie die Paketverwaltung apt & mehr." in text
    for gone in (ENGLISH, "An English sentence", "Download the ebook", "Zurück", "apt-get", "<"):
        assert gone not in text
    assert text.count("Kapitel 1") == 1  # the heading, not the table of contents
    zh = corpus.documents("zh", "calibration") + corpus.documents("zh", "heldout")
    assert "全球社区" in "".join(zh)
    with pytest.raises(CorpusError, match=r"no text in language 'sw'.*it has: de, en, zh"):
        corpus.documents("sw", "calibration")


def test_handbook_missing_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="apt-get install debian-handbook"):
        get_corpus(CorpusSpec(source="handbook", options={"root": str(tmp_path / "none")}))


@pytest.mark.skipif(not Path(HANDBOOK_ROOT).is_dir(), reason="debian-handbook not installed")
def test_real_handbook() -> None:
    corpus = get_corpus(CorpusSpec(source="handbook"))
    assert {"ar", "de", "en", "es", "ru", "zh"} <= set(corpus.languages())
    assert corpus.folders()["ar"] == "ar-MA" and corpus.folders()["zh"] == "zh-CN"
    for lang in ("de", "ar"):
        cal = corpus.documents(lang, "calibration")
        assert_disjoint(corpus, lang)
        text = "\n".join(cal)
        assert len(text) > 300_000 and "<" not in text[:10000]
        assert "The story of Falcot Corp ends with this last chapter" not in text
    assert any("Falcot" in d for d in corpus.documents("de", "calibration"))


def test_html_paragraphs_skips_code_and_navigation() -> None:
    paras = html_paragraphs(PAGE.format(**EN_PAGE))
    assert paras == [
        "Chapter 1",
        "The Debian project is a worldwide community.",
        ENGLISH,
        "Use the package manager apt & mehr.",
    ]


# -------------------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic_and_in_script() -> None:
    a = get_corpus(CorpusSpec(source="synthetic", options={"documents": 20}))
    b = get_corpus(CorpusSpec(source="synthetic", options={"documents": 20}))
    assert a.documents("ru", "calibration") == b.documents("ru", "calibration")
    assert_disjoint(a, "ru")
    scripts = {"ru": (0x0400, 0x04FF), "ar": (0x0600, 0x06FF), "zh": (0x4E00, 0x9FFF)}
    for lang, (lo, hi) in scripts.items():
        letters = [c for c in "".join(a.documents(lang, "calibration")) if c.isalpha()]
        assert letters and all(lo <= ord(c) <= hi for c in letters), lang
    assert a.documents("en", "calibration") != a.documents("de", "calibration")


# ------------------------------------------------------------------------------ calibration


def test_sampler_is_deterministic_per_seed(tok) -> None:
    corpus = get_corpus(CorpusSpec(source="synthetic", options={"documents": 30}))
    x = sample_calibration(corpus, tok, "de", 8, 64, seed=0)
    assert x.shape == (8, 64) and x.dtype == torch.long
    assert torch.equal(x, sample_calibration(corpus, tok, "de", 8, 64, seed=0))
    assert not torch.equal(x, sample_calibration(corpus, tok, "de", 8, 64, seed=1))


def test_mix_takes_an_equal_share(tok) -> None:
    corpus = get_corpus(CorpusSpec(source="synthetic", options={"documents": 30}))
    mix = sample_calibration(corpus, tok, "en+de", 8, 64, seed=3)
    assert torch.equal(mix[:4], sample_calibration(corpus, tok, "en", 4, 64, seed=3))
    assert torch.equal(mix[4:], sample_calibration(corpus, tok, "de", 4, 64, seed=3))
    odd = sample_calibration(corpus, tok, "en+de+ru", 7, 64, seed=3)  # 3 + 2 + 2
    assert torch.equal(odd[:3], sample_calibration(corpus, tok, "en", 3, 64, seed=3))


def test_samples_come_only_from_calibration_documents(tok, tmp_path: Path) -> None:
    (tmp_path / "en.txt").write_text("\n\n".join(docs_for("en", 40, 80)), encoding="utf-8")
    corpus = get_corpus(CorpusSpec(source="files", options={"path": str(tmp_path)}))
    cal, held = corpus.documents("en", "calibration"), corpus.documents("en", "heldout")
    for row in sample_calibration(corpus, tok, "en", 16, 100, seed=0):
        window = tok.decode(row, skip_special_tokens=True)
        assert any(window in d for d in cal)
        assert not any(window in d for d in held)


def test_short_documents_are_concatenated(tok, tmp_path: Path) -> None:
    # 200 documents of ~40 bytes, windows of 128 tokens: no single document is long enough
    docs = [f"short document number {i:04d} in english." for i in range(200)]
    (tmp_path / "en.txt").write_text("\n\n".join(docs), encoding="utf-8")
    corpus = get_corpus(CorpusSpec(source="files", options={"path": str(tmp_path)}))
    info: dict = {}
    x = sample_calibration(corpus, tok, "en", 8, 128, seed=0, info=info)
    text = tok.decode(x[0])
    assert "\n\n" in text and "short document number" in text
    drawn = info["languages"]["en"]
    assert drawn["source"] == "concatenated" and drawn["samples"] == 8
    assert drawn["documents"] == drawn["long_enough"] > 1 and info["special_tokens"] is True
    cal = corpus.documents("en", "calibration")
    assert drawn["documents"] < len(cal)  # chunks of several documents


def reference_get_c4(docs: list[str], tokenizer, nsamples: int, seqlen: int, seed: int):
    """The loop of locuslab/wanda lib/data.py get_c4 (and SparseGPT datautils), written out."""
    import random

    random.seed(seed)
    rows = []
    for _ in range(nsamples):
        while True:
            i = random.randint(0, len(docs) - 1)
            enc = tokenizer(docs[i], return_tensors="pt")
            if enc.input_ids.shape[1] > seqlen:
                break
        i = random.randint(0, enc.input_ids.shape[1] - seqlen - 1)
        rows.append(enc.input_ids[:, i : i + seqlen])
    return torch.cat(rows)


def test_windows_are_token_identical_to_the_reference_loop(tok, tmp_path: Path) -> None:
    # documents of mixed lengths, some shorter than seqlen, so the reference's retry loop runs
    docs = [" ".join(f"w{d}x{i}" for i in range(5 + 7 * (d % 9))) for d in range(60)]
    (tmp_path / "en.txt").write_text("\n\n".join(docs), encoding="utf-8")
    corpus = get_corpus(CorpusSpec(source="files", options={"path": str(tmp_path)}))
    cal = corpus.documents("en", "calibration")
    for seed in (0, 1, 7):
        info: dict = {}
        got = sample_calibration(corpus, tok, "en", 12, 96, seed=seed, info=info)
        assert torch.equal(got, reference_get_c4(cal, tok, 12, 96, seed))
        assert info["languages"]["en"]["source"] == "documents"
        assert info["languages"]["en"]["documents"] == len(cal)
    # windows drawn at a document's start begin with BOS, as the tokenizer adds it
    got = sample_calibration(corpus, tok, "en", 64, 96, seed=0)
    assert (got[:, 0] == tok.bos_token_id).any() and (got[:, 1:] != tok.bos_token_id).all()


def test_too_little_text_is_a_clear_error(tok, tmp_path: Path) -> None:
    (tmp_path / "sw.txt").write_text("\n\n".join(docs_for("sw", 10, 20)), encoding="utf-8")
    corpus = get_corpus(CorpusSpec(source="files", options={"path": str(tmp_path)}))
    with pytest.raises(CorpusError) as err:
        sample_calibration(corpus, tok, "sw", 128, 2048, seed=0)
    msg = str(err.value)
    assert "'sw'" in msg and "files:" in msg and "characters" in msg and "262,144" in msg


# ------------------------------------------------------------------------- parallel splits


def parallel_files(tmp_path: Path, langs=("en", "de", "fr"), n: int = 60) -> Path:
    """Document i of every language is the translation of the same page i (tagged p<i>)."""
    for lang in langs:
        docs = [
            f"p{i:03d} {lang} " + " ".join(f"{lang}{i}w{j}" for j in range(8)) for i in range(n)
        ]
        if lang == "fr":
            docs[5] = ""  # a page missing in one language
        (tmp_path / f"{lang}.jsonl").write_text(
            "".join(
                json.dumps({"text": d, "page": f"p{i:03d}"}) + "\n" for i, d in enumerate(docs)
            ),
            encoding="utf-8",
        )
    return tmp_path


def page_ids(docs: list[str]) -> set[str]:
    return {d.split()[0] for d in docs}


@pytest.mark.parametrize("id_field", [None, "page"])
def test_parallel_files_hold_out_the_same_pages_everywhere(tmp_path: Path, id_field) -> None:
    options = {"path": str(parallel_files(tmp_path)), "parallel": True, "heldout_fraction": 0.2}
    if id_field:
        options["id_field"] = id_field
    corpus = get_corpus(CorpusSpec(source="files", options=options))
    held = {lang: page_ids(corpus.documents(lang, "heldout")) for lang in ("en", "de", "fr")}
    cal = {lang: page_ids(corpus.documents(lang, "calibration")) for lang in ("en", "de", "fr")}
    assert held["en"] and len(held["en"]) < 60
    for a in held:
        for b in cal:
            assert not held[a] & cal[b], (a, b)  # no translation of a held-out page calibrates
    # evaluation: the same pages in every language (p005 is missing in fr)
    among = ["en", "de", "fr"]
    evaluated = {lang: page_ids(corpus.heldout_documents(lang, among)) for lang in among}
    assert evaluated["en"] == evaluated["de"] == evaluated["fr"]
    assert evaluated["en"] == held["en"] & held["fr"]


def test_non_parallel_files_split_per_language(tmp_path: Path) -> None:
    options = {"path": str(parallel_files(tmp_path)), "heldout_fraction": 0.2}
    corpus = get_corpus(CorpusSpec(source="files", options=options))
    held = {lang: page_ids(corpus.documents(lang, "heldout")) for lang in ("en", "de")}
    assert held["en"] != held["de"]  # content hashes differ per language
    for lang in ("en", "de"):
        assert_disjoint(corpus, lang)
        assert corpus.heldout_documents(lang, ["en", "de"]) == corpus.documents(lang, "heldout")


def test_parallel_option_is_checked(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="parallel must be true or false"):
        get_corpus(CorpusSpec(source="files", options={"path": str(tmp_path), "parallel": "yes"}))


def test_handbook_pages_are_held_out_in_every_language(tmp_path: Path) -> None:
    root = tmp_path / "hb"
    for folder, word in (("en-US", "Chapter"), ("de-DE", "Kapitel"), ("fr-FR", "Chapitre")):
        (root / folder).mkdir(parents=True)
        for i in range(40):
            html = f"<html><body><p>{word} {i} debian seite pagina number {i}.</p></body></html>"
            (root / folder / f"page{i:02d}.html").write_text(html, encoding="utf-8")
    corpus = get_corpus(CorpusSpec(source="handbook", options={"root": str(root)}))
    assert corpus.parallel

    def numbers(lang: str, part: str) -> set[str]:
        return {d.split()[1] for d in corpus.documents(lang, part)}

    held = {lang: numbers(lang, "heldout") for lang in ("en", "de", "fr")}
    assert held["en"] == held["de"] == held["fr"] and held["en"]
    assert not held["en"] & numbers("de", "calibration")
