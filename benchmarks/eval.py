"""Benchmark our perplexity evaluation against lm-eval's `loglikelihood_rolling`.

    python benchmarks/eval.py [--tokens 16384] [--seqlen 512] [--batch-size 4]
                              [--hidden 256] [--layers 4] [--vocab 32000] [--device cpu]
                              [--dtype float32] [--repeats 2]

A random-weight Llama (the given shape; vocab rows beyond the byte tokenizer's 260 only cost what
a real 32k-128k vocabulary costs in the softmax) scores the same multilingual text (en, de, ru,
zh, ar) both ways, with matching windows: the text is exactly --tokens bytes (= byte tokens), a
multiple of seqlen, so every window is full; lm-eval gets max_length = seqlen and no extra BOS. Prints tokens/s of both, the ratio,
and the relative NLL difference; exits 1 if the NLLs differ by 1e-4 or more.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from langprune.engine.eval.perplexity import SEPARATOR, evaluate_perplexity
from langprune.engine.models.byte_tokenizer import make_byte_tokenizer

SENTENCES = [
    "All human beings are born free and equal in dignity and rights.",
    "Everyone has the right to life, liberty and security of person.",
    "Alle Menschen sind frei und gleich an Würde und Rechten geboren.",
    "Jeder hat das Recht auf Leben, Freiheit und Sicherheit der Person.",
    "Все люди рождаются свободными и равными в своем достоинстве и правах.",
    "Каждый человек имеет право на жизнь, на свободу и на личную неприкосновенность.",
    "人人生而自由，在尊严和权利上一律平等。",
    "人人有权享有生命、自由和人身安全。",
    "يولد جميع الناس أحرارًا ومتساوين في الكرامة والحقوق.",
    "لكل فرد الحق في الحياة والحرية وفي الأمان على شخصه.",
]


def make_text(n_bytes: int, seed: int = 0) -> str:
    """Documents of shuffled sentences joined as the protocol joins them, exactly n_bytes long.

    Exact length (cut at a character, padded with '.') so that the byte tokenizer gives exactly
    n_bytes tokens: all windows full, as lm-eval's are (its last window would borrow context).
    """
    rng = random.Random(seed)
    docs: list[str] = []
    total = 0
    while total < n_bytes:
        doc = " ".join(rng.choice(SENTENCES) for _ in range(8))
        docs.append(doc)
        total += len(doc.encode("utf-8")) + len(SEPARATOR)
    text = SEPARATOR.join(docs).encode("utf-8")[:n_bytes].decode("utf-8", errors="ignore")
    return text + "." * (n_bytes - len(text.encode("utf-8")))


def make_model(args: argparse.Namespace) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        intermediate_size=args.hidden * 4,
        num_hidden_layers=args.layers,
        num_attention_heads=max(args.hidden // 64, 1),
        max_position_embeddings=args.seqlen,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    dtype = getattr(torch, args.dtype)
    return LlamaForCausalLM(config).to(device=args.device, dtype=dtype).eval()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tokens", type=int, default=16384)
    p.add_argument("--seqlen", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--repeats", type=int, default=3, help="best of N runs each")
    args = p.parse_args()
    if args.tokens % args.seqlen:
        p.error("--tokens must be a multiple of --seqlen (matching windows)")

    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    tok = make_byte_tokenizer()
    model = make_model(args)
    text = make_text(args.tokens)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"model: random Llama hidden={args.hidden} layers={args.layers} vocab={args.vocab} "
        f"({params / 1e6:.1f}M params) {args.dtype} on {args.device}; "
        f"{args.tokens} tokens, seqlen {args.seqlen}, batch {args.batch_size}"
    )

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    # warm-up (kernels, allocator) so neither side pays first-call costs
    evaluate_perplexity(model, tok, [text], seqlen=args.seqlen, max_tokens=args.seqlen)

    lm = HFLM(
        pretrained=model,
        tokenizer=tok,
        batch_size=args.batch_size,
        max_length=args.seqlen,
        add_bos_token=False,  # lm-eval puts the prefix token (BOS) itself, as we do
    )
    request = Instance(request_type="loglikelihood_rolling", doc={}, arguments=(text,), idx=0)

    def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
        sync()
        t0 = time.perf_counter()
        out = fn()
        sync()
        return time.perf_counter() - t0, out

    # alternate the two, best of N each: a shared machine's load then hits both alike
    ours_s = theirs_s = float("inf")
    ours, ll = None, 0.0
    for _ in range(args.repeats):
        dt, ours = timed(
            lambda: evaluate_perplexity(
                model, tok, [text], seqlen=args.seqlen, max_tokens=args.tokens,
                batch_size=args.batch_size,
            )
        )  # fmt: skip
        ours_s = min(ours_s, dt)
        dt, ll = timed(lambda: lm.loglikelihood_rolling([request], disable_tqdm=True)[0])
        theirs_s = min(theirs_s, dt)
    assert ours is not None and ours.tokens == args.tokens and not ours.truncated

    rel = abs(ours.nll_sum - (-ll)) / abs(ll)
    ours_tps, theirs_tps = ours.tokens / ours_s, ours.tokens / theirs_s
    print(f"ours    : {ours_tps:12,.0f} tokens/s  ({ours_s:.3f} s)  NLL {ours.nll_sum:.6f} nats")
    print(f"lm-eval : {theirs_tps:12,.0f} tokens/s  ({theirs_s:.3f} s)  NLL {-ll:.6f} nats")
    print(f"speed ratio ours/lm-eval: {ours_tps / theirs_tps:.2f}x   relative NLL diff: {rel:.2e}")
    print(f"ppl {ours.ppl:.4f}  bpb {ours.bpb:.4f}  windows {ours.windows}")
    ok = rel < 1e-4
    print("OK" if ok else "FAIL: NLLs differ")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
