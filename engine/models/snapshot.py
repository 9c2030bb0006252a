"""A copy of the dense weights, so one loaded model serves many pruning runs without reloading."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class DenseSnapshot:
    """Every parameter and buffer of a model, copied once (tied weights once); restore is bit-exact."""

    tensors: dict[str, torch.Tensor]
    device: torch.device

    @classmethod
    def take(cls, model: nn.Module, device: str | torch.device | None = None) -> DenseSnapshot:
        """Copy to `device`; by default the model's own GPU when the copy fits there, else CPU."""
        state = _state(model)
        dev = torch.device(device) if device is not None else _where(state)
        return cls({k: v.detach().to(dev, copy=True) for k, v in state.items()}, dev)

    def restore(self, model: nn.Module) -> None:
        """Write the dense values back into the model's own tensors (same objects, same devices)."""
        state = _state(model)
        if state.keys() != self.tensors.keys():
            raise ValueError("snapshot was taken from a model with different parameters")
        with torch.no_grad():
            for name, tensor in state.items():
                tensor.copy_(self.tensors[name])

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    # named_parameters drops duplicates, so a tied lm_head/embedding is stored once
    out: dict[str, torch.Tensor] = {f"param:{k}": p for k, p in model.named_parameters()}
    out.update({f"buffer:{k}": b for k, b in model.named_buffers()})
    return out


def _where(state: dict[str, torch.Tensor]) -> torch.device:
    first = next(iter(state.values()))
    if first.device.type != "cuda":
        return torch.device("cpu")
    need = sum(t.numel() * t.element_size() for t in state.values())
    free, _ = torch.cuda.mem_get_info(first.device)
    # leave room for the calibration activations and the SparseGPT Hessians
    return first.device if need < 0.5 * free else torch.device("cpu")
