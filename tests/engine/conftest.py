"""Engine tests run offline: nothing is downloaded, every model and corpus is made here."""

from __future__ import annotations

import os

# read by huggingface_hub and datasets at import time, so set before anything imports them
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    """Tiny models run fastest on one thread; on a shared machine more threads only spin."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
