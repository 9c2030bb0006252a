"""Random-weight models from a named architecture and size, with the offline byte tokenizer.

For smoke runs, tests and benchmarks only: the weights mean nothing. Names are '<arch>-<size>':
tiny variants of every supported architecture, `llama-768` (12 layers, hidden 768: the prune
benchmark) and `llama-8b` (the shape of Llama-3-8B: speed and memory checks on a GPU).
"""

from __future__ import annotations

from typing import Any

import torch

from langprune.engine.models.byte_tokenizer import VOCAB_SIZE, make_byte_tokenizer

# Tiny shapes keep every matrix dimension a multiple of 64 so that 50% and N:M patterns are exact.
_TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=4096,
    vocab_size=VOCAB_SIZE,
)

# name -> (config class name in transformers, config keyword arguments)
ARCHITECTURES: dict[str, tuple[str, dict[str, Any]]] = {
    "llama-tiny": ("LlamaConfig", dict(_TINY)),
    "mistral-tiny": ("MistralConfig", dict(_TINY, sliding_window=32)),
    "qwen2-tiny": ("Qwen2Config", dict(_TINY)),
    # Gemma 3 alternates sliding-window and global attention, each with its own rotary base
    "gemma3-tiny": (
        "Gemma3TextConfig",
        dict(
            _TINY,
            sliding_window=16,
            layer_types=[
                "sliding_attention",
                "full_attention",
                "sliding_attention",
                "full_attention",
            ],
            tie_word_embeddings=True,
        ),
    ),
    # Cohere (Aya-23) runs attention and MLP in parallel on one normed input; tied embeddings
    "cohere-tiny": (
        "CohereConfig",
        dict({k: v for k, v in _TINY.items() if k != "head_dim"}, tie_word_embeddings=True),
    ),
    "llama-768": (
        "LlamaConfig",
        dict(
            hidden_size=768,
            intermediate_size=2048,
            num_hidden_layers=12,
            num_attention_heads=12,
            num_key_value_heads=12,
            max_position_embeddings=4096,
            vocab_size=VOCAB_SIZE,
        ),
    ),
    "llama-8b": (
        "LlamaConfig",
        dict(
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            max_position_embeddings=8192,
            rope_theta=500000.0,
            vocab_size=128256,
        ),
    ),
}


def random_model_names() -> list[str]:
    return sorted(ARCHITECTURES)


def make_config(name: str) -> Any:  # -> transformers.PretrainedConfig
    """The transformers config of a named random architecture."""
    import transformers

    if name not in ARCHITECTURES:
        raise ValueError(
            f"unknown random model {name!r} (known: {', '.join(random_model_names())})"
        )
    cls_name, kwargs = ARCHITECTURES[name]
    kwargs = {"tie_word_embeddings": False, **kwargs}
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
