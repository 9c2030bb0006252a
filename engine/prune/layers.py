"""Find a model's decoder layers and linear sublayers, and capture what each layer receives.

Nothing here names an architecture: the decoder stack is the largest ModuleList of identical blocks
that contain Linear modules, and each layer's keyword arguments (attention masks, rotary position
embeddings, ...) are recorded from a real forward pass, so Gemma 2/3's alternating sliding/global
layers get their own masks and rotary tables instead of layer 0's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


def find_decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder stack: the ModuleList of same-class blocks with Linear sublayers, most parameters."""
    best: tuple[int, nn.ModuleList] | None = None
    for module in model.modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        kinds = {type(child) for child in module}
        if len(kinds) != 1 or not find_linears(module[0]):
            continue
        size = sum(p.numel() for p in module.parameters())
        if best is None or size > best[0]:
            best = (size, module)
    if best is None:
        raise ValueError(f"no decoder layers found in {type(model).__name__}")
    return best[1]


def find_linears(layer: nn.Module) -> dict[str, nn.Linear]:
    """The Linear sublayers of one decoder layer, by their name inside the layer, in module order."""
    return {name: m for name, m in layer.named_modules() if isinstance(m, nn.Linear)}


def layer_output(out: Any) -> torch.Tensor:
    """Hidden states from a decoder layer's return value (a tensor in transformers 5, a tuple before)."""
    return out[0] if isinstance(out, (tuple, list)) else out


@dataclass
class LayerInputs:
    """Layer 0's hidden states for every sample, and the extra arguments each layer was called with.

    `calls[i][batch_size]` = (positional args after the hidden states, keyword args) of layer i for a
    micro-batch of that size; they depend on positions and shapes only, never on token values.
    """

    hidden: torch.Tensor
    calls: list[dict[int, tuple[tuple[Any, ...], dict[str, Any]]]] = field(default_factory=list)

    def call(self, layer: nn.Module, index: int, x: torch.Tensor) -> torch.Tensor:
        """Run decoder layer `index` on a micro-batch with the arguments it received in the model."""
        args, kwargs = self.calls[index][x.shape[0]]
        return layer_output(layer(x, *args, **kwargs))


class _Stop(Exception):
    """Raised after the last decoder layer: the model's norm and lm_head are never needed here."""


def _split_hidden(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[torch.Tensor, tuple, dict]:
    if args:
        return args[0], tuple(args[1:]), dict(kwargs)
    kwargs = dict(kwargs)
    return kwargs.pop("hidden_states"), (), kwargs


def capture_layer_inputs(
    model: nn.Module,
    layers: nn.ModuleList,
    input_ids: torch.Tensor,
    micro_batch: int,
    device: torch.device,
) -> LayerInputs:
    """Run the model with every decoder layer stubbed out, recording layer 0's inputs and each layer's
    arguments. Costs only the embedding and mask/rotary set-up, not the layers themselves."""
    n = input_ids.shape[0]
    hidden: torch.Tensor | None = None
    calls: list[dict[int, tuple[tuple[Any, ...], dict[str, Any]]]] = [{} for _ in layers]
    # whether a layer returns a tuple (transformers 4.x) or a tensor (5.x): learnt from layer 0 once
    style: dict[str, bool] = {}
    originals = [layer.forward for layer in layers]

    def stub(index: int):
        def forward(*args: Any, **kwargs: Any) -> Any:
            x, rest, kw = _split_hidden(args, kwargs)
            calls[index].setdefault(x.shape[0], (rest, kw))
            if index == 0:
                captured.append(x)
                if "tuple" not in style:
                    style["tuple"] = isinstance(originals[0](*args, **kwargs), (tuple, list))
            if index == len(layers) - 1:
                raise _Stop
            return (x,) if style["tuple"] else x

        return forward

    captured: list[torch.Tensor] = []
    try:
        for i, layer in enumerate(layers):
            layer.forward = stub(i)
        with torch.no_grad():
            for start in range(0, n, micro_batch):
                batch = input_ids[start : start + micro_batch].to(device)
                with suppress(_Stop):
                    model(input_ids=batch, use_cache=False)
                x = captured.pop()
                if hidden is None:
                    hidden = torch.empty((n, *x.shape[1:]), dtype=x.dtype, device=device)
                hidden[start : start + x.shape[0]] = x
    finally:
        for layer in layers:
            del layer.forward  # the instance attribute shadowed the class's forward
    assert hidden is not None
    return LayerInputs(hidden=hidden, calls=calls)


def _layer_param_ids(layers: nn.ModuleList) -> set[int]:
    return {id(t) for t in [*layers.parameters(), *layers.buffers()]}


def move_outside_layers(model: nn.Module, layers: nn.ModuleList, device: torch.device) -> None:
    """Move every parameter and buffer that is not inside the decoder layers (embeddings, rotary
    tables, final norm, lm_head) to `device`, in place, keeping tied parameters tied."""
    inside = _layer_param_ids(layers)
    for module in model.modules():
        for p in module._parameters.values():
            if p is not None and id(p) not in inside and p.device != device:
                p.data = p.data.to(device)
        for name, b in module._buffers.items():
            if b is not None and id(b) not in inside and b.device != device:
                module._buffers[name] = b.to(device)


@contextmanager
def on_device(module: nn.Module, device: torch.device, offload: bool) -> Iterator[nn.Module]:
    """With offload, move one module to the compute device for the block and back to CPU after."""
    if not offload:
        yield module
        return
    module.to(device)
    try:
        yield module
    finally:
        module.to("cpu")
