"""Calibration samples: token windows drawn from a corpus's calibration documents, as the reference code.

Protocol (Wanda/SparseGPT `get_c4`): `random.seed(seed)`; for each sample draw a random document until
one has more than `seqlen` tokens, then a random window of `seqlen` tokens inside it. Documents are
tokenized as the reference does, `tokenizer(text)` with the tokenizer's special tokens (a Llama
tokenizer's BOS starts every document, so a window drawn at position 0 starts with BOS), which
makes the windows token-identical to the reference loop for the same documents and seed.
When the long documents of a language hold fewer than nsamples x seqlen tokens (corpora of short
documents), the documents are first concatenated in their fixed order (blank line between) into
chunks of more than seqlen tokens, each tokenized as one document. How each language was drawn
(documents or concatenated chunks, how many, how many of them long enough) is returned through
`info` and recorded in the run's status. A mix such as "en+de" takes an equal share from each
language (the first languages get one more on a remainder), each drawn with the same seed, in the
order written.
"""

from __future__ import annotations

import random
from typing import Any

import torch

from langprune.engine.data.corpora import Corpus, CorpusError, describe_text
from langprune.vocab import mix_parts

SEP = "\n\n"  # between concatenated documents


def sample_calibration(
    corpus: Corpus,
    tokenizer: Any,
    language: str,
    nsamples: int,
    seqlen: int,
    seed: int,
    info: dict[str, Any] | None = None,
) -> torch.Tensor:
    """LongTensor [nsamples, seqlen] of calibration token ids, deterministic for a seed.

    `info`, when given, receives per language how the samples were drawn: {"samples", "source"
    ("documents" or "concatenated"), "documents" (drawn from), "long_enough" (of more than seqlen
    tokens), "tokens"}; plus "special_tokens": True.
    """
    langs = mix_parts(language)
    shares = [nsamples // len(langs) + (i < nsamples % len(langs)) for i in range(len(langs))]
    per_lang: dict[str, Any] = {}
    parts = [
        _sample_one(corpus, tokenizer, lang, share, seqlen, seed, per_lang)
        for lang, share in zip(langs, shares, strict=True)
        if share
    ]
    if info is not None:
        info.update(special_tokens=True, languages=per_lang)
    return torch.cat(parts)


def _sample_one(
    corpus: Corpus,
    tokenizer: Any,
    lang: str,
    nsamples: int,
    seqlen: int,
    seed: int,
    info: dict[str, Any],
) -> torch.Tensor:
    docs = corpus.documents(lang, "calibration")
    # a worker draws many runs (seeds, sizes) from one corpus: tokenize each language once
    key = ("calibration-ids", id(tokenizer), lang)
    if key not in corpus.memo:
        # the tokenizer is kept alive with its ids, so its id() cannot be reused by another
        corpus.memo[key] = (tokenizer, _tokenize(tokenizer, docs))
    ids = corpus.memo[key][1]
    need = nsamples * seqlen
    total = sum(len(t) for t in ids)
    if total < need:
        raise CorpusError(
            f"too little calibration text for language {lang!r} in corpus {corpus.name!r}: "
            f"{describe_text(docs)}, {total:,} tokens; {nsamples} samples x {seqlen} tokens need "
            f"{need:,} (use fewer samples, shorter sequences or a bigger corpus)"
        )
    source = "documents"
    if sum(len(t) for t in ids if len(t) > seqlen) < need:
        source = "concatenated"
        ids = _concatenated(tokenizer, docs, seqlen)
    info[lang] = {
        "samples": nsamples,
        "source": source,
        "documents": len(ids),
        "long_enough": sum(len(t) > seqlen for t in ids),
        "tokens": sum(len(t) for t in ids),
    }
    rng = random.Random(seed)
    out = torch.empty((nsamples, seqlen), dtype=torch.long)
    for s in range(nsamples):
        while True:
            doc = ids[rng.randint(0, len(ids) - 1)]
            if len(doc) > seqlen:
                break
        start = rng.randint(0, len(doc) - seqlen - 1)
        out[s] = torch.tensor(doc[start : start + seqlen], dtype=torch.long)
    return out


def _tokenize(tokenizer: Any, docs: list[str]) -> list[list[int]]:
    # as the reference get_c4: `tokenizer(text)`, the tokenizer's special tokens included
    return list(tokenizer(docs)["input_ids"]) if docs else []


def _concatenated(tokenizer: Any, docs: list[str], seqlen: int) -> list[list[int]]:
    """Join consecutive documents (blank line between) into chunks of more than seqlen tokens,
    each tokenized whole as one document (special tokens included); a short rest joins the last."""
    counts = [len(t) for t in tokenizer(docs, add_special_tokens=False)["input_ids"]]
    chunk_texts: list[str] = []
    texts: list[str] = []
    estimate = 0
    for doc, count in zip(docs, counts, strict=True):
        texts.append(doc)
        estimate += count + 1
        if estimate > seqlen and len(_tokenize(tokenizer, [SEP.join(texts)])[0]) > seqlen:
            chunk_texts.append(SEP.join(texts))
            texts, estimate = [], 0
    if texts and chunk_texts:
        chunk_texts[-1] = SEP.join([chunk_texts[-1], *texts])
    elif texts:
        chunk_texts.append(SEP.join(texts))
    return _tokenize(tokenizer, chunk_texts)
