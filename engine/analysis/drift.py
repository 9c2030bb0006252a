"""Layer drift: how far each decoder layer's output moves from the dense model's (torch side).

Protocol: the first `windows` non-overlapping windows of `seqlen` tokens of a language's held-out
text (documents joined with "\\n\\n", tokenized without special tokens, as perplexity does) are run
through the pruned model and through the dense model. For decoder layer l the drift is
    ||H_pruned[l] - H_dense[l]||_F / ||H_dense[l]||_F
over all windows and positions, where H[l] is layer l's output hidden states (captured by a
forward hook on the layer, so before the final norm). The dense model against itself gives 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from langprune.engine.prune.layers import layer_output


def heldout_windows(
    tokenizer: Any, texts: Sequence[str], seqlen: int, windows: int
) -> torch.Tensor:
    """LongTensor [n, seqlen]: the first `windows` full windows of the joined held-out text."""
    ids = tokenizer("\n\n".join(texts), add_special_tokens=False)["input_ids"]
    n = min(windows, len(ids) // seqlen)
    if n == 0:
        raise ValueError(f"held-out text has {len(ids)} tokens, fewer than one window of {seqlen}")
    return torch.tensor(ids[: n * seqlen], dtype=torch.long).reshape(n, seqlen)


class LayerOutputs:
    """Forward hooks that hand each decoder layer's output hidden states to a callback."""

    def __init__(self, layers: Sequence[Any], callback: Any) -> None:
        self.layers, self.callback = layers, callback
        self.handles: list[Any] = []

    def __enter__(self) -> LayerOutputs:
        for i, layer in enumerate(self.layers):
            self.handles.append(layer.register_forward_hook(self._hook(i)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self.handles:
            h.remove()

    def _hook(self, index: int) -> Any:
        def fn(module: Any, args: Any, output: Any) -> None:
            self.callback(index, layer_output(output))

        return fn


def relative_errors(pruned: Sequence[torch.Tensor], dense: Sequence[torch.Tensor]) -> list[float]:
    """Per layer ||P - D||_F / ||D||_F, each list entry a layer's stacked outputs."""
    out = []
    for p, d in zip(pruned, dense, strict=True):
        p, d = p.double(), d.double()
        denom = torch.linalg.vector_norm(d)
        out.append(float(torch.linalg.vector_norm(p - d) / denom) if denom > 0 else 0.0)
    return out
