"""Random-weight models from a named architecture and size, with the offline byte tokenizer.

For smoke runs, tests and benchmarks only: the weights mean nothing. Names are '<arch>-<size>':
tiny variants of every supported architecture, `llama-768` (12 layers, hidden 768: the prune
benchmark) and `llama-8b` (the shape of Llama-3-8B: speed and memory checks on a GPU).
"""

from __future__ import annotations

from typing import Any

import torch

from langprune.engine.models.byte_tokenizer import VOCAB_SIZE, make_byte_tokenizer
from langprune.engine.models.random_shapes import ARCHITECTURES, random_model_names

__all__ = ["ARCHITECTURES", "build_random_model", "make_config", "random_model_names"]


def make_config(name: str) -> Any:  # -> transformers.PretrainedConfig
    """The transformers config of a named random architecture."""
    import transformers

    if name not in ARCHITECTURES:
        raise ValueError(
            f"unknown random model {name!r} (known: {', '.join(random_model_names())})"
        )
    cls_name, kwargs = ARCHITECTURES[name]
    kwargs = {"tie_word_embeddings": False, "vocab_size": VOCAB_SIZE, **kwargs}
    config = getattr(transformers, cls_name)(
        **kwargs, bos_token_id=1, eos_token_id=2, pad_token_id=0
    )
    config.use_cache = False
    return config


def build_random_model(
    name: str, dtype: torch.dtype, device: str | torch.device, seed: int = 0
) -> tuple[torch.nn.Module, Any]:
    """A causal LM with seeded random weights, created directly on `device`, and a byte tokenizer."""
    from transformers import AutoModelForCausalLM

    config = make_config(name)
    torch.manual_seed(seed)
    # creating the weights on the target device avoids an 8B-sized detour through CPU memory
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.eval()
    return model, make_byte_tokenizer()
