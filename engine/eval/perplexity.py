"""Per-language perplexity and bits per byte on held-out text (torch side).

Protocol (the reference Wanda/SparseGPT one, stated exactly so numbers can be compared):

1. The held-out documents are joined with "\\n\\n" and tokenized once, without special tokens.
2. The token stream is capped at `max_tokens` text tokens. The cut is moved back to a character
   boundary, so that a character split over several tokens (byte-level tokenizers do this for
   every non-ASCII character) is either scored whole or not at all.
3. A prefix token (BOS, else EOS, as lm-eval's HFLM does) is put in front, and the stream is cut
   into non-overlapping windows of `seqlen` tokens. Every position predicts the next token of the
   stream, including the last position of a window, which predicts the first token of the next
   window. So every text token is scored exactly once, with 1..seqlen tokens of context; these are
   the same windows and the same scores as lm-eval's `loglikelihood_rolling` with
   max_length = seqlen. (The reference code drops that last prediction per window; we keep it,
   since it costs nothing and leaves no token unscored.)
4. ppl = exp(NLL / tokens); nll = NLL / tokens (nats); bpb = NLL / ln 2 / bytes, where NLL is the
   sum over scored tokens in nats and bytes are the UTF-8 bytes of the scored text: the joined
   text up to where the first unscored token starts (all of it when nothing was cut). The "\\n\\n"
   separators are part of the scored text.
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
PROTOCOL_VERSION = "nonoverlap-v1"


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
            f"{PROTOCOL_VERSION}: joined '\\n\\n', windows of {self.seqlen} tokens, no overlap, "
            f"prefix={bos}, all tokens scored, cap {self.max_tokens} tokens at a char boundary"
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
        base |= {"language": language, "stderr": None}
        return [
            {**base, "metric": "ppl", "value": self.ppl, "n": self.tokens, "extra": extra},
            {**base, "metric": "bpb", "value": self.bpb, "n": self.bytes, "extra": extra},
            {**base, "metric": "nll", "value": self.nll, "n": self.tokens, "extra": extra},
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
        return model.device  # type: ignore[return-value]  # HF models have .device; torch types it as a submodule
    except AttributeError:
        return next(model.parameters()).device


def _window_nll(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Summed NLL (nats) of targets given inputs, [B, T] each; logits upcast to float32."""
    logits = model(input_ids=inputs, use_cache=False).logits
    total = 0.0
    # one row at a time: a [T, vocab] float32 copy instead of [B, T, vocab] (128k vocabularies)
    for b in range(logits.shape[0]):
        total += F.cross_entropy(logits[b].float(), targets[b], reduction="sum").item()
    return total


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

    nll_sum = 0.0
    done_tokens = 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            # full windows in batches: inputs stream[kL:(k+1)L], targets shifted by one
            for first in range(0, n_full, batch_size):
                last = min(first + batch_size, n_full)
                inp = stream[first * seqlen : last * seqlen].view(last - first, seqlen)
                tgt = stream[first * seqlen + 1 : last * seqlen + 1].view(last - first, seqlen)
                nll_sum += _window_nll(model, inp.to(device), tgt.to(device))
                done_tokens += tgt.numel()
                _report(progress, last, n_windows, done_tokens, start, extra)
            if n_full < n_windows:  # the shorter tail window
                inp = stream[n_full * seqlen : n_pred].unsqueeze(0)
                tgt = stream[n_full * seqlen + 1 : n_pred + 1].unsqueeze(0)
                nll_sum += _window_nll(model, inp.to(device), tgt.to(device))
                done_tokens += tgt.numel()
                _report(progress, n_windows, n_windows, done_tokens, start, extra)
    finally:
        model.train(was_training)

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
