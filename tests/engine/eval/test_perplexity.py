"""Perplexity and bits per byte against a direct, token-by-token computation."""

from __future__ import annotations

import math

import pytest
import torch

from langprune.engine.eval.perplexity import SEPARATOR, evaluate_perplexity

TEXTS = {
    "zh": [
        "人人生而自由，在尊严和权利上一律平等。",
        "他们赋有理性和良心，并应以兄弟关系的精神相对待。",
    ],
    "ar": ["يولد جميع الناس أحرارًا ومتساوين في الكرامة والحقوق.", "وقد وهبوا عقلاً وضميرًا."],
    "ru": [
        "Все люди рождаются свободными и равными в своем достоинстве и правах.",
        "Они наделены разумом.",
    ],
    "en": ["All human beings are born free and equal in dignity and rights."],
}


def direct_nll(model: torch.nn.Module, stream: list[int], seqlen: int) -> float:
    """Sum of -log p(token j | its window's tokens before j), one forward pass per token."""
    total = 0.0
    with torch.no_grad():
        for j in range(1, len(stream)):
            window_start = (j - 1) // seqlen * seqlen
            context = torch.tensor([stream[window_start:j]])
            logits = model(input_ids=context).logits[0, -1].double()
            total -= torch.log_softmax(logits, -1)[stream[j]].item()
    return total


@pytest.mark.parametrize("lang", ["zh", "ar", "ru"])
def test_matches_direct_computation(model, tokenizer, lang: str) -> None:
    text = SEPARATOR.join(TEXTS[lang])
    n_bytes = len(text.encode("utf-8"))
    seqlen = 32
    res = evaluate_perplexity(model, tokenizer, TEXTS[lang], seqlen=seqlen, max_tokens=10_000)
    # byte tokenizer: one token per UTF-8 byte, so multi-byte scripts have tokens == bytes
    assert res.tokens == n_bytes == res.bytes
    assert res.windows == math.ceil(n_bytes / seqlen)
    assert not res.truncated
    stream = [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]
    expected = direct_nll(model, stream, seqlen)
    assert res.nll_sum == pytest.approx(expected, rel=1e-5)
    assert res.ppl == pytest.approx(math.exp(expected / n_bytes), rel=1e-5)
    assert res.bpb == pytest.approx(expected / math.log(2) / n_bytes, rel=1e-5)
    assert len(text) < n_bytes  # really multi-byte


def test_windows_do_not_overlap_and_batching_is_exact(model, tokenizer) -> None:
    seen: list[torch.Tensor] = []
    handle = model.model.embed_tokens.register_forward_hook(
        lambda _m, args, _out: seen.extend(args[0].cpu())
    )
    try:
        res1 = evaluate_perplexity(
            model, tokenizer, TEXTS["ru"], seqlen=16, max_tokens=10_000, batch_size=3
        )
    finally:
        handle.remove()
    text = SEPARATOR.join(TEXTS["ru"])
    stream = [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]
    # the windows, in order, tile the stream (minus its last token) with no overlap or gap
    assert torch.cat(seen).tolist() == stream[:-1]
    assert all(len(w) <= 16 for w in seen) and len(seen) == res1.windows
    res2 = evaluate_perplexity(
        model, tokenizer, TEXTS["ru"], seqlen=16, max_tokens=10_000, batch_size=1
    )
    assert res1.nll_sum == pytest.approx(res2.nll_sum, rel=1e-5)


def test_cap_holds_at_a_character_boundary(model, tokenizer) -> None:
    docs = TEXTS["zh"] * 60  # ~3.5k bytes: more than 8 x cap, so the prefix tokenizer path runs
    cap = 100  # byte 100 falls inside a 3-byte character: the cut moves back to its start
    res = evaluate_perplexity(model, tokenizer, docs, seqlen=32, max_tokens=cap)
    assert res.truncated and res.tokens <= cap
    joined = SEPARATOR.join(docs)
    scored = joined.encode("utf-8")[: res.tokens].decode("utf-8")  # raises if cut mid-character
    longest = max(i for i in range(cap + 1) if len(joined[:i].encode("utf-8")) <= cap)
    assert scored == joined[:longest]
    assert res.bytes == len(scored.encode("utf-8")) == res.tokens < cap
    stream = [tokenizer.bos_token_id, *tokenizer(scored, add_special_tokens=False)["input_ids"]]
    assert res.nll_sum == pytest.approx(direct_nll(model, stream, 32), rel=1e-5)


def test_rows_and_progress(model, tokenizer) -> None:
    events: list[dict] = []
    res = evaluate_perplexity(
        model,
        tokenizer,
        TEXTS["en"],
        seqlen=16,
        max_tokens=40,
        batch_size=2,
        progress=lambda **kw: events.append(kw),
        language="en",
    )
    assert res.tokens == 40 and res.windows == 3
    assert [e["step"] for e in events] == [2, 3] and all(e["total"] == 3 for e in events)
    assert all(e["stage"] == "eval_ppl" and e["language"] == "en" for e in events)
    assert all(e["tokens_per_s"] > 0 for e in events)
    rows = res.rows("en", "udhr")
    assert {r["metric"]: r["n"] for r in rows} == {"ppl": 40, "bpb": 40, "nll": 40}
    for r in rows:
        assert set(r) == {
            "kind",
            "task",
            "subtask",
            "language",
            "metric",
            "value",
            "stderr",
            "n",
            "extra",
        }
        assert (r["kind"], r["task"], r["subtask"], r["language"]) == (
            "perplexity",
            "perplexity",
            "udhr",
            "en",
        )
        assert {"tokens", "bytes", "windows", "seqlen", "protocol"} <= set(r["extra"])
    assert rows[0]["value"] == pytest.approx(math.exp(rows[2]["value"]))
