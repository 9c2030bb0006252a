"""GPU slots: which devices a machine has (without torch) and how queued runs are spread on them.

A slot is one place a worker can run: (GPU, k) for k < slots_per_gpu, or one CPU slot on a machine
without a GPU. A worker sees only its own GPU through CUDA_VISIBLE_DEVICES.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from langprune.errors import RunnerError

# Tests and machines with an unusual driver set the GPU list explicitly ("" = no GPU).
FAKE_GPUS_ENV = "LANGPRUNE_GPUS"


@dataclass(frozen=True, order=True)
class Slot:
    gpu: str | None  # as CUDA_VISIBLE_DEVICES names it; None for the CPU slot
    index: int = 0

    @property
    def name(self) -> str:
        return f"gpu{self.gpu}-{self.index}" if self.gpu is not None else f"cpu{self.index}"

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """The environment of a worker in this slot: only its own GPU is visible."""
        env = dict(base)
        # An empty value hides every GPU, so a CPU worker never grabs one by accident.
        env["CUDA_VISIBLE_DEVICES"] = self.gpu if self.gpu is not None else ""
        env.pop(FAKE_GPUS_ENV, None)
        return env


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip() and v.strip() != "-1"]


def detect_gpus(env: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs this process may use, without importing torch.

    $LANGPRUNE_GPUS (a list such as "0,1,3", or "" for none) wins; then $CUDA_VISIBLE_DEVICES; then
    the indices `nvidia-smi -L` lists; no nvidia-smi means no GPU.
    """
    env = os.environ if env is None else env
    for key in (FAKE_GPUS_ENV, "CUDA_VISIBLE_DEVICES"):
        if key in env:
            return _split(env[key])
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU ")]


def make_slots(gpus: Sequence[str], slots_per_gpu: int = 1) -> list[Slot]:
    """Every slot of the machine: slots_per_gpu per GPU, or a single CPU slot when there is none."""
    if not gpus:
        return [Slot(None, 0)]
    return [Slot(str(g), k) for g in gpus for k in range(max(1, slots_per_gpu))]


def resolve_gpus(
    requested: Sequence[int | str] | str | None, available: Sequence[str]
) -> list[str]:
    """The GPUs to use: `requested` ("all"/None = every available one) checked against `available`."""
    if requested is None or requested == "all":
        return list(available)
    if isinstance(requested, str):
        requested = _split(requested)
    wanted = [str(g) for g in requested]
    missing = [g for g in wanted if g not in available]
    if missing:
        have = ", ".join(available) or "none"
        raise RunnerError(
            f"--gpus: GPU {', '.join(missing)} is not available (visible: {have})",
            "pick visible GPUs with --gpus, or --gpus all",
        )
    return wanted


def plan_batches(
    pending: Sequence[tuple[str, str]], free_slots: int, busy_models: Sequence[str] = ()
) -> list[list[str]]:
    """Group pending runs (run id, model key) into at most `free_slots` worker batches.

    Runs of one model share a worker, so the model is loaded once. When there are more free slots
    than models, a model's runs are split over several slots, to use them all; models that no
    worker serves yet get a slot before a second slot goes to the same model.
    """
    if free_slots <= 0 or not pending:
        return []
    groups: dict[str, list[str]] = {}
    for run_id, model in pending:
        groups.setdefault(model, []).append(run_id)
    # Slots per model: round robin, unserved models first, never more slots than runs.
    order = sorted(groups, key=lambda m: (m in busy_models, list(groups).index(m)))
    share = dict.fromkeys(order, 0)
    left = free_slots
    while left:
        progressed = False
        for model in order:
            if left and share[model] < len(groups[model]):
                share[model] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    batches = []
    for model in order:
        n = share[model]
        if not n:
            continue
        runs = groups[model]
        size = math.ceil(len(runs) / n)
        batches.extend(runs[i : i + size] for i in range(0, len(runs), size))
    return batches
