"""Per-language perplexity and bits per byte on held-out text (torch side).

Protocol (the reference Wanda/SparseGPT one, stated exactly so numbers can be compared):

1. The held-out documents are joined with "\\n\\n" and tokenized once, without special tokens.
2. The token stream is capped at `max_tokens` text tokens. The cut is moved back to a character
   boundary, so that a character split over several tokens (byte-level tokenizers do this for
   every non-ASCII character) is either scored whole or not at all.
3. lm-eval's `loglikelihood_rolling` with max_length = seqlen, exactly: a prefix token (BOS,
   else EOS, as lm-eval's HFLM does) is put in front and the stream is cut into windows of
   `seqlen` tokens, each position predicting the next token. Every window but the last is a
   non-overlapping full window; the last one, when the text is not a multiple of `seqlen`, is a
   full window that ends at the text's end and scores only its new tokens (the tail), with the
   tokens before them as context (lm-eval's `get_rolling_token_windows` + `make_disjoint_window`,
   context_len=1). So every text token is scored exactly once; a text shorter than one window is
   one short window. (One corner differs from lm-eval's code: with exactly seqlen + 1 text tokens
   lm-eval's slice `token_list[-1:seqlen]` gives the last window no context at all; here it gets
   its full window.)
4. ppl = exp(NLL / tokens); nll = NLL / tokens (nats); bpb = NLL / ln 2 / bytes, where NLL is the
   sum over scored tokens in nats and bytes are the UTF-8 bytes of the scored text: the joined
   text up to where the first unscored token starts (all of it when nothing was cut). The "\\n\\n"
   separators are part of the scored text.
5. Uncertainty: the window is the unit. With per-window NLL sums L_w over t_w tokens and
   nll = sum L_w / sum t_w, the standard error of nll is the ratio-estimator (delta method) one,
   sqrt(W / (W - 1) * sum (L_w - nll * t_w)^2) / sum t_w over W windows; ppl's is ppl * se(nll)
   and bpb's se(nll) * tokens / ln 2 / bytes. Each metric row carries it as `stderr` and the
   number of windows as `n` (None with a single window).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

SEPARATOR = "\n\n"
PROTOCOL_VERSION = "rolling-v2"


@dataclass(frozen=True)
class PerplexityResult:
    """Totals of one perplexity evaluation; metrics derive from them."""

    nll_sum: float  # nats, summed over scored tokens
    tokens: int  # scored tokens
    bytes: int  # UTF-8 bytes of the scored text
    windows: int
    seqlen: int
    max_tokens: int
    truncated: bool  # the cap cut the text
    prefix_token: int | None
    seconds: float
    window_nll: tuple[float, ...] = ()  # per window: summed NLL (nats) of its scored tokens
    window_tokens: tuple[int, ...] = ()  # per window: tokens scored

    @property
    def nll_stderr(self) -> float | None:
        """Standard error of `nll` over windows (module docstring, point 5); None below 2 windows."""
        w = len(self.window_nll)
        if w < 2 or not self.tokens:
            return None
        mean = sum(self.window_nll) / sum(self.window_tokens)
        dev = sum(
            (n - mean * t) ** 2 for n, t in zip(self.window_nll, self.window_tokens, strict=True)
        )
        return math.sqrt(w / (w - 1) * dev) / sum(self.window_tokens)

    @property
    def ppl_stderr(self) -> float | None:
        se = self.nll_stderr
        return None if se is None else self.ppl * se

    @property
    def bpb_stderr(self) -> float | None:
        se = self.nll_stderr
        return None if se is None or not self.bytes else se * self.tokens / math.log(2) / self.bytes

    @property
    def nll(self) -> float:
        """Mean NLL per token, in nats."""
        return self.nll_sum / self.tokens if self.tokens else math.nan

    @property
    def ppl(self) -> float:
        return math.exp(self.nll) if self.tokens else math.nan

    @property
    def bpb(self) -> float:
        return self.nll_sum / math.log(2) / self.bytes if self.bytes else math.nan

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else math.nan

    @property
    def protocol(self) -> str:
        bos = "none" if self.prefix_token is None else "bos"
        return (
            f"{PROTOCOL_VERSION}: joined '\\n\\n', lm-eval loglikelihood_rolling windows of "
            f"{self.seqlen} tokens (full-context tail), prefix={bos}, all tokens scored, "
            f"cap {self.max_tokens} tokens at a char boundary"
        )

    def rows(self, language: str, corpus_name: str) -> list[dict[str, Any]]:
        """Metric rows in the metrics.jsonl format (docs/CONTRACTS.md)."""
        extra = {
            "tokens": self.tokens,
            "bytes": self.bytes,
            "windows": self.windows,
            "seqlen": self.seqlen,
            "protocol": self.protocol,
            "max_tokens": self.max_tokens,
            "truncated": self.truncated,
            "nll_sum": self.nll_sum,
        }
        base: dict[str, Any] = {"kind": "perplexity", "task": "perplexity", "subtask": corpus_name}
        base |= {"language": language, "n": self.windows, "extra": extra}
        return [
            {**base, "metric": "ppl", "value": self.ppl, "stderr": self.ppl_stderr},
            {**base, "metric": "bpb", "value": self.bpb, "stderr": self.bpb_stderr},
            {**base, "metric": "nll", "value": self.nll, "stderr": self.nll_stderr},
        ]


def prefix_token_id(tokenizer: Any) -> int | None:
    """The token put before the text: BOS, else EOS (lm-eval's HFLM default)."""
    for tok in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if tok is not None:
            return int(tok)
    return None


def tokenize_capped(tokenizer: Any, text: str, max_tokens: int) -> tuple[list[int], int, bool]:
    """Token ids of `text` (at most max_tokens, cut at a char boundary), scored bytes, truncated.

    Long texts are tokenized on a growing prefix (chars = 8 x max_tokens, doubling) instead of
    whole, since a held-out corpus may be far larger than the cap.
    """
    budget = max(max_tokens * 8, 1024)
    while True:
        chunk = text[:budget]
        enc = tokenizer(chunk, add_special_tokens=False, return_offsets_mapping=True)
        ids: list[int] = list(enc["input_ids"])
        offsets: list[tuple[int, int]] = list(enc["offset_mapping"])
        # The last tokens of a prefix may tokenize differently from the full text: require a
        # margin of tokens past the cap unless the chunk is the whole text.
        if len(chunk) == len(text) or len(ids) > max_tokens + 16:
            break
        budget *= 2
    if len(ids) <= max_tokens and len(chunk) == len(text):
        return ids, len(text.encode("utf-8")), False
    k = max_tokens
    # step back while token k shares a character with token k-1 (a split multi-byte char)
    while k > 0 and offsets[k][0] < offsets[k - 1][1]:
        k -= 1
    scored_text = chunk[: offsets[k][0]]
    return ids[:k], len(scored_text.encode("utf-8")), True


def _device_of(model: torch.nn.Module) -> torch.device:
    try:
        return model.device  # type: ignore[return-value]
    except AttributeError:
        return next(model.parameters()).device


def _window_nll(
    model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, scored: int | None = None
) -> list[float]:
    """Per row, the summed NLL (nats) of targets given inputs, [B, T] each, over the last `scored`
    positions (all when None); logits upcast to float32."""
    logits = model(input_ids=inputs, use_cache=False).logits
    first = 0 if scored is None else logits.shape[1] - scored
    # one row at a time: a [T, vocab] float32 copy instead of [B, T, vocab] (128k vocabularies)
    return [
        F.cross_entropy(logits[b, first:].float(), targets[b, first:], reduction="sum").item()
        for b in range(logits.shape[0])
    ]


def evaluate_perplexity(
    model: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    seqlen: int,
    max_tokens: int,
    batch_size: int = 4,
    progress: Callable[..., None] | None = None,
    language: str | None = None,
) -> PerplexityResult:
    """Perplexity and bits per byte of `model` on the joined `texts` (protocol: module docstring).

    `language`, when given, is passed along in progress events.
    """
    if seqlen < 1 or max_tokens < 1 or batch_size < 1:
        raise ValueError("seqlen, max_tokens and batch_size must be >= 1")
    start = time.perf_counter()
    text = SEPARATOR.join(t for t in texts if t)
    ids, n_bytes, truncated = tokenize_capped(tokenizer, text, max_tokens)
    prefix = prefix_token_id(tokenizer)
    stream = torch.tensor(([prefix] if prefix is not None else []) + ids, dtype=torch.long)
    n_pred = max(len(stream) - 1, 0)  # positions that have a next token
    n_windows = math.ceil(n_pred / seqlen)
    n_full = n_pred // seqlen
    device = _device_of(model)
    extra = {"language": language} if language is not None else {}

    window_nll: list[float] = []
    window_tokens: list[int] = []
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            # full windows in batches: inputs stream[kL:(k+1)L], targets shifted by one
            for first in range(0, n_full, batch_size):
                last = min(first + batch_size, n_full)
                inp = stream[first * seqlen : last * seqlen].view(last - first, seqlen)
                tgt = stream[first * seqlen + 1 : last * seqlen + 1].view(last - first, seqlen)
                window_nll += _window_nll(model, inp.to(device), tgt.to(device))
                window_tokens += [seqlen] * (last - first)
                _report(progress, last, n_windows, sum(window_tokens), start, extra)
            if n_full < n_windows:
                tail = n_pred - n_full * seqlen  # predictions left for the last window
                # lm-eval: the last window ends at the text's end and is full when the text
                # allows it (get_rolling_token_windows: tokens[end - max_len - 1 : end - 1])
                begin = max(n_pred - seqlen, 0)
                inp = stream[begin:n_pred].unsqueeze(0)
                tgt = stream[begin + 1 : n_pred + 1].unsqueeze(0)
                window_nll += _window_nll(model, inp.to(device), tgt.to(device), scored=tail)
                window_tokens.append(tail)
                _report(progress, n_windows, n_windows, sum(window_tokens), start, extra)
    finally:
        model.train(was_training)
    nll_sum = sum(window_nll)

    # without a prefix token the first text token has no context and is not scored
    scored = len(ids) if prefix is not None else max(len(ids) - 1, 0)
    if prefix is None and ids:
        first_bytes = len(tokenizer.decode(ids[:1]).encode("utf-8"))
        n_bytes = max(n_bytes - first_bytes, 0)
    return PerplexityResult(
        nll_sum=nll_sum,
        tokens=scored,
        bytes=n_bytes,
        windows=n_windows,
        seqlen=seqlen,
        max_tokens=max_tokens,
        truncated=truncated,
        prefix_token=prefix,
        seconds=time.perf_counter() - start,
        window_nll=tuple(window_nll),
        window_tokens=tuple(window_tokens),
    )


def _report(
    progress: Callable[..., None] | None,
    step: int,
    total: int,
    tokens: int,
    start: float,
    extra: dict[str, Any],
) -> None:
    if progress is None:
        return
    elapsed = time.perf_counter() - start
    mem = torch.cuda.memory_allocated() if torch.cuda.is_available() else None
    progress(
        stage="eval_ppl",
        step=step,
        total=total,
        tokens_per_s=tokens / elapsed if elapsed > 0 else None,
        mem_bytes=mem,
        **extra,
    )
