"""Tiny random Llama models with the offline byte tokenizer, for the evaluation tests."""

from __future__ import annotations

import pytest
import torch

from langprune.engine.models.byte_tokenizer import VOCAB_SIZE, make_byte_tokenizer


def tiny_llama(seed: int = 0, max_positions: int = 512) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is faster than contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tokenizer():
    return make_byte_tokenizer()


@pytest.fixture
def model() -> torch.nn.Module:
    return tiny_llama()


def magnitude_prune_(model: torch.nn.Module, sparsity: float = 0.5) -> None:
    """Zero the smallest weights of every decoder Linear in place (a stand-in for real pruning)."""
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and "lm_head" not in name:
                w = module.weight
                k = int(w.numel() * sparsity)
                threshold = w.abs().flatten().kthvalue(k).values
                w[w.abs() <= threshold] = 0
