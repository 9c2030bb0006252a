#!/usr/bin/env bash
# One prepared GPU check (issue 12, item 7): the figures of an 8B-shaped bf16 Llama with random
# weights, on one CUDA GPU, in under 8 minutes on an H100/H200-class card.
#
#   bash benchmarks/gpu_check.sh [PYTHON]        # PYTHON defaults to .venv/bin/python
#
# Steps (each under its own time limit, so one slow step cannot eat the others' time):
#   1. Wanda and SparseGPT on random:llama-8b, bf16, 128 x 2048 calibration tokens:
#      benchmarks/prune.py prints time, the forward floor, the ratios and peak CUDA memory.
#      Targets: Wanda < 60 s, SparseGPT < 5 min.
#   2. The offload path on 4 layers of the same shape: the model stays in CPU memory and each layer
#      visits the GPU; its masks must equal the on-GPU run's (printed as a check), with both times.
#   3. A two-run grid through the local scheduler with --gpus 0 (random:llama-768, bf16), waited
#      for; prints each run's state, device and seconds.
# Writes nothing outside a temporary folder; prints "GPU CHECK DONE" at the end.
set -u
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
LANGPRUNE="$(dirname "$PY")/langprune"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export PYTHONUNBUFFERED=1
start=$(date +%s)
step() { echo; echo "=== $1 ($(($(date +%s) - start)) s since start)"; }

step "device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'transformers', transformers.__version__, 'device', torch.cuda.get_device_name(0))" || exit 1

step "1. Wanda and SparseGPT, random:llama-8b bf16, 128 x 2048"
timeout 330 "$PY" benchmarks/prune.py --model random:llama-8b --dtype bfloat16 --device cuda \
    --nsamples 128 --seqlen 2048 --methods wanda,sparsegpt \
    || echo "step 1 FAILED or timed out (rc $?)"

step "2. offload path, 4 layers of llama-8b shape, bf16, 32 x 2048"
timeout 150 "$PY" - <<'EOF' || echo "step 2 FAILED or timed out (rc $?)"
import time

import torch

from langprune.engine.data.calibration import sample_calibration
from langprune.engine.data.corpora import get_corpus
from langprune.engine.models import random_models as rm
from langprune.engine.prune.driver import prune_model
from langprune.engine.prune.layers import find_decoder_layers, find_linears
from langprune.engine.spec.experiment import CorpusSpec

cls, kw = rm.ARCHITECTURES["llama-8b"]
rm.ARCHITECTURES["llama-8b-4layers"] = (cls, {**kw, "num_hidden_layers": 4})
corpus = get_corpus(CorpusSpec(source="synthetic", options={"documents": 400}))


def masks(model):
    return [
        (lin.weight == 0).cpu()
        for layer in find_decoder_layers(model)
        for lin in find_linears(layer).values()
    ]


results = {}
for offload in (False, True):
    device = "cpu" if offload else "cuda"
    model, tok = rm.build_random_model("llama-8b-4layers", torch.bfloat16, device, seed=0)
    ids = sample_calibration(corpus, tok, "en", 32, 2048, seed=0)
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    report = prune_model(model, ids, "wanda", "0.5", offload=offload, device="cuda")
    torch.cuda.synchronize()
    secs = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated() / 2**30
    results[offload] = masks(model)
    print(f"offload={offload}: wanda 4 layers {secs:.1f} s, peak CUDA {peak:.2f} GiB, "
          f"sparsity {report.overall:.4f}")
    del model
    torch.cuda.empty_cache()
same = all(torch.equal(a, b) for a, b in zip(results[False], results[True], strict=True))
print(f"offload masks equal the on-GPU masks: {same}")
EOF

step "3. two-run grid through the scheduler, --gpus 0"
mkdir -p "$TMP/ws"
cat > "$TMP/grid.toml" <<'EOF'
name = "gpu-check-grid"
dense_baseline = false

[[models]]
id = "random:llama-768"
dtype = "bfloat16"
device = "cuda"

[pruning]
methods = ["wanda"]
sparsity = [0.5]

[calibration]
languages = ["en", "de"]
nsamples = 32
seqlen = 512
seeds = [0]

[calibration.corpus]
source = "synthetic"

[evaluation]
languages = ["en"]
max_tokens = 8192
batch_size = 4
EOF
t=$(date +%s)
LANGPRUNE_HOME="$TMP/ws" timeout 150 "$LANGPRUNE" run "$TMP/grid.toml" --gpus 0 --wait \
    || echo "step 3 FAILED or timed out (rc $?)"
echo "grid wall time: $(($(date +%s) - t)) s"
"$PY" - "$TMP/ws/runs" <<'EOF' || true
import json
import sys
from pathlib import Path

for status in sorted(Path(sys.argv[1]).glob("*/status.json")):
    s = json.loads(status.read_text())
    secs = {k: round(v, 1) for k, v in (s.get("seconds") or {}).items()}
    print(status.parent.name, s.get("state"), s.get("device"), secs, s.get("error") or "")
EOF

step "GPU CHECK DONE"
