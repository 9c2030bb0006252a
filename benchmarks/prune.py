"""Pruning speed: seconds per method, split into the unavoidable forward passes and the method's own
work, against a baseline that only runs the two forward passes per layer every data-driven method
needs (dense pass for statistics, pruned pass for the next layer's inputs).

    .venv/bin/python benchmarks/prune.py                                  # llama-768, 128 x 512
    .venv/bin/python benchmarks/prune.py --nsamples 16 --seqlen 256       # a quick look
    .venv/bin/python benchmarks/prune.py --model random:llama-8b --dtype bfloat16 --seqlen 2048

The baseline is measured at micro-batch 1 and at the automatic choice; the best of the two is the
floor. Targets (issue 12, CPU, 128 x 512): Wanda total <= 1.05x the best floor, SparseGPT <= 1.4x.
Every registered method runs by default, RIA and the OWL variants included; an OWL method's
extra dense pass over all layers (its outlier ratios) is the `owl s` column, part of its total.
Not a test: it prints a table.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from langprune.engine.data.calibration import sample_calibration
from langprune.engine.data.corpora import get_corpus
from langprune.engine.models.loading import load_model
from langprune.engine.models.snapshot import DenseSnapshot
from langprune.engine.prune.driver import auto_micro_batch, peak_memory, prune_model
from langprune.engine.prune.layers import capture_layer_inputs, find_decoder_layers
from langprune.engine.spec.experiment import CorpusSpec, ModelSpec
from langprune.vocab import METHODS

TARGETS = {"wanda": 1.05, "sparsegpt": 1.4}


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def baseline(model: torch.nn.Module, ids: torch.Tensor, mb: int, dev: torch.device) -> float:
    """Seconds for capture + two plain forward passes per layer, no hooks, no pruning."""
    layers = find_decoder_layers(model)
    sync(dev)
    t = time.perf_counter()
    with torch.no_grad():
        inputs = capture_layer_inputs(model, layers, ids, mb, dev)
        hidden = inputs.hidden
        for i, layer in enumerate(layers):
            for _ in range(2):
                outs = [
                    inputs.call(layer, i, hidden[s : s + mb]) for s in range(0, len(hidden), mb)
                ]
            hidden.copy_(torch.cat(outs))
    sync(dev)
    return time.perf_counter() - t


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="random:llama-768")
    ap.add_argument("--nsamples", type=int, default=128)
    ap.add_argument("--seqlen", type=int, default=512)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--sparsity", default="0.5")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--micro-batch", type=int, default=None)
    ap.add_argument("--offload", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    t = time.perf_counter()
    loaded = load_model(ModelSpec(id=args.model, dtype=args.dtype, device=args.device))
    model, dev = loaded.model, loaded.device
    print(f"loaded {args.model} ({loaded.dtype}, {dev}) in {time.perf_counter() - t:.1f} s")
    corpus = get_corpus(CorpusSpec(source="synthetic", options={"documents": 400}))
    ids = sample_calibration(corpus, loaded.tokenizer, "en", args.nsamples, args.seqlen, seed=0)
    layers = find_decoder_layers(model)
    mb = args.micro_batch or auto_micro_batch(model, layers, ids.shape, dev)
    tokens = ids.numel()
    snapshot = DenseSnapshot.take(model)
    floors = {size: baseline(model, ids, size, dev) for size in sorted({1, mb})}
    base = min(floors.values())
    print(
        f"{len(layers)} layers, {args.nsamples} x {args.seqlen} = {tokens:,} tokens, "
        f"micro-batch {mb}, {torch.get_num_threads()} CPU threads, host {os.uname().nodename}"
    )
    for size, seconds in floors.items():
        print(
            f"baseline (capture + 2 forward passes per layer) at micro-batch {size}: {seconds:.1f} s"
        )
    print(f"best floor: {base:.1f} s\n")

    head = (
        "method", "total s", "forward s", "own s", "owl s", "x floor", "target", "tokens/s",
        "peak mem",
    )  # fmt: skip
    rows = []
    for method in args.methods.split(","):
        snapshot.restore(model)
        r = prune_model(
            model, ids, method, args.sparsity, micro_batch=mb, offload=args.offload, device=dev
        )
        tm = r.timings
        owl = tm.get("owl", 0.0)  # the outlier pass: its own forward and stats are inside it
        forward = tm["capture"] + tm["forward"] - tm["stats"]
        own = tm["stats"] + tm["prune"]
        target = TARGETS.get(method)
        rows.append(
            (
                method,
                f"{r.seconds:.1f}",
                f"{forward:.1f}",
                f"{own:.1f}",
                f"{owl:.1f}" if "owl" in tm else "-",
                f"{r.seconds / base:.2f}",
                f"<= {target}" if target else "-",
                f"{tokens / r.seconds:,.0f}",
                gib(r.peak_mem_bytes),
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    for row in (head, *rows):
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths, strict=True)))
    print(
        "\nforward = capture + both passes (hook time removed); own = fp32 statistics in hooks + "
        f"pruning math. Peak memory: {'CUDA allocated' if dev.type == 'cuda' else 'process RSS'}"
        f" (now {gib(peak_memory(dev))})."
    )


if __name__ == "__main__":
    main()
