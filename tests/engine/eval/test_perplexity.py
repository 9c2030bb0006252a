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
    """Sum of -log p(token j | its window's tokens before j), one forward pass per token: full
    windows tile the stream, and the tail's window is the last `seqlen` inputs of the stream."""
    total = 0.0
    n_pred = len(stream) - 1
    full = n_pred // seqlen * seqlen
    with torch.no_grad():
        for j in range(1, len(stream)):
            window_start = (j - 1) // seqlen * seqlen if j <= full else max(n_pred - seqlen, 0)
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
    # the full windows, in order, tile the stream with no overlap or gap; the last one is a full
    # window ending at the stream's end (lm-eval's rolling windows)
    n_pred = len(stream) - 1
    full = n_pred // 16 * 16
    assert n_pred % 16, "the text must end in a tail for this test"
    assert torch.cat(seen[:-1]).tolist() == stream[:full]
    assert seen[-1].tolist() == stream[n_pred - 16 : n_pred]
    assert all(len(w) == 16 for w in seen) and len(seen) == res1.windows
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
    assert {r["metric"]: r["n"] for r in rows} == {"ppl": 3, "bpb": 3, "nll": 3}
    assert all(r["stderr"] is not None and r["stderr"] > 0 for r in rows)
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


def lm_eval_rolling_nll(
    model: torch.nn.Module, tokens: list[int], prefix: int, max_length: int
) -> float | None:
    """lm-eval's own windows (utils.get_rolling_token_windows + make_disjoint_window, as HFLM's
    loglikelihood_rolling uses them), scored as HFLM's _loglikelihood_tokens does: the input is
    (context + continuation)[-(max_length + 1):][:-1] and the last len(continuation) logits score
    the continuation. None when lm-eval would give a window no input (its seqlen + 1 corner)."""
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

    total = 0.0
    windows = get_rolling_token_windows(
        token_list=tokens, prefix_token=prefix, max_seq_len=max_length, context_len=1
    )
    with torch.no_grad():
        for context, continuation in map(make_disjoint_window, windows):
            inp = (context + continuation)[-(max_length + 1) :][:-1]
            if len(inp) < len(continuation):
                return None
            logits = model(input_ids=torch.tensor([inp])).logits[0, -len(continuation) :]
            logp = torch.log_softmax(logits.double(), -1)
            total -= logp[torch.arange(len(continuation)), torch.tensor(continuation)].sum().item()
    return total


def test_equals_lm_eval_rolling_loglikelihood_on_every_length(model, tokenizer) -> None:
    seqlen = 12
    base = SEPARATOR.join(TEXTS["en"] + TEXTS["ru"])
    checked = 0
    for n_chars in [*range(1, 40), 47, 48, 49, 60, 61, 71, 72, 73]:
        text = base[:n_chars]
        for cap in (10_000, 30, 25):
            res = evaluate_perplexity(model, tokenizer, [text], seqlen=seqlen, max_tokens=cap)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"][: res.tokens]
            want = lm_eval_rolling_nll(model, ids, tokenizer.bos_token_id, seqlen)
            if want is None:  # lm-eval's corner: a last window without input
                assert len(ids) == seqlen + 1
                continue
            assert res.nll_sum == pytest.approx(want, rel=1e-5, abs=1e-6), (n_chars, cap)
            assert res.windows == math.ceil(len(ids) / seqlen)
            assert sum(res.window_tokens) == res.tokens == len(ids)
            checked += 1
    assert checked > 100


def test_stderr_is_the_ratio_estimator_over_windows(model, tokenizer) -> None:
    docs = TEXTS["ru"] * 3
    res = evaluate_perplexity(model, tokenizer, docs, seqlen=16, max_tokens=10_000)
    assert res.windows == len(res.window_nll) >= 3 and res.window_tokens[-1] < 16
    # recomputed from the per-window sums with numpy-free plain arithmetic, other formula order
    L, t = res.window_nll, res.window_tokens
    nll = sum(L) / sum(t)
    resid = [li - nll * ti for li, ti in zip(L, t, strict=True)]
    mean_t = sum(t) / len(t)
    var = sum(r * r for r in resid) / (len(t) - 1)
    se = math.sqrt(var / len(t)) / mean_t
    assert res.nll_stderr == pytest.approx(se, rel=1e-9)
    assert res.ppl_stderr == pytest.approx(res.ppl * se, rel=1e-9)
    assert res.bpb_stderr == pytest.approx(se * res.tokens / math.log(2) / res.bytes, rel=1e-9)
    one = evaluate_perplexity(model, tokenizer, ["short"], seqlen=16, max_tokens=10_000)
    assert one.windows == 1 and one.nll_stderr is None
    assert all(r["stderr"] is None and r["n"] == 1 for r in one.rows("en", "x"))
