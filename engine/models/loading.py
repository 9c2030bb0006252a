"""Load the model and tokenizer a ModelSpec names: Hub id, local directory, GGUF file, a GGUF shipped
in a pip package, or random weights of a named architecture.

GGUF files are dequantized by transformers once and the converted model is cached under
`<workspace>/cache/models/<key>/` (key = file identity + dtype), so later loads skip the conversion.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from langprune.engine.models.random_models import build_random_model
from langprune.engine.spec.experiment import ModelSpec
from langprune.errors import LangpruneError

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


class ModelLoadError(LangpruneError, RuntimeError):
    """The model cannot be loaded; the message says which model, why, and how to fix it."""


@dataclass
class LoadedModel:
    """A model ready to prune. `device` is where computation runs; with `offload` the weights stay
    in CPU memory and the pruning driver moves one decoder layer at a time to `device`."""

    model: torch.nn.Module
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    source: str
    offload: bool = False
    path: str | None = None


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(
            "device 'cuda' was asked for but torch sees no GPU (use device 'auto' or 'cpu')"
        )
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """'auto' is bfloat16 on a GPU that supports it (else float16) and float32 on CPU."""
    if dtype != "auto":
        return DTYPES[dtype]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_model(spec: ModelSpec, workspace: Path | None = None) -> LoadedModel:
    """Load `spec`'s model in eval mode with gradients off. `workspace` enables the GGUF cache."""
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    place = torch.device("cpu") if spec.offload else device
    kind = spec.kind
    path: str | None = None
    if kind == "random":
        model, tokenizer = build_random_model(spec.id.removeprefix("random:"), dtype, place)
    elif kind in ("gguf", "package"):
        gguf = _package_gguf(spec.id) if kind == "package" else _gguf_path(spec)
        path = str(gguf)
        model, tokenizer = load_gguf(gguf, dtype, workspace)
        model.to(place)
    else:
        path = str(Path(spec.id).expanduser()) if kind == "local" else spec.id
        model, tokenizer = _from_pretrained(spec, path, dtype, place, local=kind == "local")
    model.eval()
    model.requires_grad_(False)
    return LoadedModel(model, tokenizer, device, dtype, kind, spec.offload, path)


def _from_pretrained(
    spec: ModelSpec, where: str, dtype: torch.dtype, place: torch.device, local: bool
) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if local and not (Path(where) / "config.json").is_file():
        raise ModelLoadError(
            f"local model directory {where} has no config.json (expected a save_pretrained folder)"
        )
    kw: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if spec.revision:
        kw["revision"] = spec.revision
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **kw)
        model = AutoModelForCausalLM.from_pretrained(
            where, dtype=dtype, device_map=str(place), **kw
        )
    except (OSError, ValueError) as e:
        raise ModelLoadError(explain_hub_error(spec.id, e)) from e
    return model, tokenizer


def explain_hub_error(model_id: str, e: BaseException) -> str:
    """One message naming the model, the cause and the fix, for Hub/cache failures."""
    text = f"{type(e).__name__}: {e}"
    low = text.lower()
    first = text.splitlines()[0]
    if "gated" in low or "401" in low or "403" in low or "restricted" in low:
        return (
            f"model {model_id!r} is gated or private: accept its license on "
            f"https://huggingface.co/{model_id} and log in (`hf auth login`) or set HF_TOKEN ({first})"
        )
    if any(w in low for w in ("offline", "localentrynotfound", "connection", "couldn't connect")):
        return (
            f"weights for {model_id!r} are not in the local Hugging Face cache and the Hub cannot be "
            "reached (no network, or HF_HUB_OFFLINE=1): download them where there is network "
            f"(`hf download {model_id}`) into this machine's HF_HOME, or give a local directory "
            f"or GGUF file as the model id ({first})"
        )
    if "not a valid model identifier" in low or "404" in low or "repositorynotfound" in low:
        return f"no model {model_id!r} on the Hugging Face Hub: check the id and revision ({first})"
    return f"cannot load model {model_id!r}: {first}"


def _gguf_path(spec: ModelSpec) -> Path:
    """The GGUF file: `id` itself, `gguf_file` inside the local folder `id`, or from a Hub repo."""
    if not spec.gguf_file:
        path = Path(spec.id).expanduser()
    elif Path(spec.id).expanduser().is_dir():
        path = Path(spec.id).expanduser() / spec.gguf_file
    else:
        from huggingface_hub import hf_hub_download

        try:
            return Path(hf_hub_download(spec.id, spec.gguf_file, revision=spec.revision))
        except Exception as e:  # the hub client raises many types for "not available"
            raise ModelLoadError(explain_hub_error(spec.id, e)) from e
    if not path.is_file():
        raise ModelLoadError(f"GGUF file {path} does not exist")
    return path


def _package_gguf(model_id: str) -> Path:
    """A GGUF model shipped in a pip package: its `assemble()` result, else a .gguf file inside it."""
    name = model_id.removeprefix("package:")
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        raise ModelLoadError(
            f"model {model_id!r}: python package {name!r} is not installed; install it with "
            f"`pip install {name.replace('_', '-')}` (the demo model comes with "
            "`pip install -e '.[demo]'`)"
        ) from e
    if hasattr(module, "assemble"):
        return Path(module.assemble())
    found = sorted(Path(module.__file__ or "").parent.rglob("*.gguf"))
    if not found:
        raise ModelLoadError(f"package {name!r} has no assemble() and no .gguf file")
    return found[0]


def gguf_cache_dir(path: Path, dtype: torch.dtype, workspace: Path) -> Path:
    st = path.resolve().stat()
    ident = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{dtype}"
    return workspace / "cache" / "models" / hashlib.sha256(ident.encode()).hexdigest()[:16]


def load_gguf(path: Path, dtype: torch.dtype, workspace: Path | None) -> tuple[Any, Any]:
    """Dequantize a GGUF file with transformers, or load the converted copy cached in `workspace`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache = gguf_cache_dir(path, dtype, workspace) if workspace is not None else None
    if cache is not None and (cache / "langprune-gguf.json").is_file():
        model = AutoModelForCausalLM.from_pretrained(cache, dtype=dtype)
        return model, AutoTokenizer.from_pretrained(cache)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=dtype
        )
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    except (OSError, ValueError, KeyError) as e:
        raise ModelLoadError(f"cannot load GGUF file {path}: {type(e).__name__}: {e}") from e
    # the dequantized weights are ordinary tensors; save_pretrained refuses while this is set
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    model.hf_quantizer = None
    if cache is not None:
        _save_cache(model, tokenizer, cache, path)
    return model, tokenizer


def _save_cache(model: Any, tokenizer: Any, cache: Path, source: Path) -> None:
    # written under a temporary name and renamed, so a crash never leaves a half cache behind
    tmp = cache.with_name(f"{cache.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "langprune-gguf.json").write_text(json.dumps({"source": str(source)}) + "\n")
    try:
        os.replace(tmp, cache)
    except OSError:  # another worker finished first
        shutil.rmtree(tmp, ignore_errors=True)
