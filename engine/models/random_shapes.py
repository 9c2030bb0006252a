"""The shapes of the random-weight models, by name (no torch: preflight reads them).

`engine/models/random_models.py` builds the models; this module only names them and their
configuration, so that validating a preset never imports torch. A shape without `vocab_size` takes
the byte tokenizer's (random_models.make_config).
"""

from __future__ import annotations

from typing import Any

# Tiny shapes keep every matrix dimension a multiple of 64 so that 50% and N:M patterns are exact.
_TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=4096,
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


def context_length(name: str) -> int | None:
    """The longest sequence a named random model takes (its max_position_embeddings)."""
    shape = ARCHITECTURES.get(name)
    return int(shape[1]["max_position_embeddings"]) if shape else None
