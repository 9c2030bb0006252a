"""Calibration samples: token windows drawn from a corpus's calibration documents, as the reference code.

Protocol (Wanda/SparseGPT `get_c4`): `random.seed(seed)`; for each sample draw a random document until
one has more than `seqlen` tokens, then a random window of `seqlen` tokens inside it. When the long
documents of a language hold fewer than nsamples x seqlen tokens (corpora of short documents), the
documents are first concatenated in their fixed order into chunks longer than seqlen. A mix such as
"en+de" takes an equal share from each language (the first languages get one more on a remainder),
each drawn with the same seed, in the order written.
"""

from __future__ import annotations

import random
from typing import Any

import torch

from langprune.engine.data.corpora import Corpus, CorpusError, describe_text
from langprune.vocab import mix_parts


def sample_calibration(
    corpus: Corpus, tokenizer: Any, language: str, nsamples: int, seqlen: int, seed: int
) -> torch.Tensor:
    """LongTensor [nsamples, seqlen] of calibration token ids, deterministic for a seed."""
    langs = mix_parts(language)
    shares = [nsamples // len(langs) + (i < nsamples % len(langs)) for i in range(len(langs))]
    parts = [
        _sample_one(corpus, tokenizer, lang, share, seqlen, seed)
        for lang, share in zip(langs, shares, strict=True)
        if share
    ]
    return torch.cat(parts)


def _sample_one(
    corpus: Corpus, tokenizer: Any, lang: str, nsamples: int, seqlen: int, seed: int
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
    if sum(len(t) for t in ids if len(t) > seqlen) < need:
        ids = _concatenated(tokenizer, docs, seqlen)
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
    # no BOS/EOS: windows come from inside documents
    return list(tokenizer(docs, add_special_tokens=False)["input_ids"]) if docs else []


def _concatenated(tokenizer: Any, docs: list[str], seqlen: int) -> list[list[int]]:
    """Join consecutive documents (blank line between) into chunks of more than seqlen tokens."""
    chunks: list[list[int]] = []
    current: list[int] = []
    sep = _tokenize(tokenizer, ["\n\n"])[0]
    for doc in _tokenize(tokenizer, docs):
        current = [*current, *sep, *doc] if current else list(doc)
        if len(current) > seqlen:
            chunks.append(current)
            current = []
    if current and chunks:
        chunks[-1] = [*chunks[-1], *sep, *current]
    elif current:
        chunks.append(current)
    return chunks
