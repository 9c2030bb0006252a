"""`langprune export`: the pruned model as a Hugging Face folder, loaded back with from_pretrained
and evaluated with the project's perplexity code, reproduces the run's perplexity exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from langprune.engine.eval.perplexity import evaluate_perplexity
from langprune.engine.prune.layers import find_decoder_layers, find_linears
from langprune.engine.run.export import export_run
from langprune.engine.run.pipeline import shared_corpus
from langprune.engine.run.worker import run_worker
from langprune.engine.spec.experiment import Run
from langprune.engine.spec.presets import from_dict
from langprune.errors import LangpruneError
from langprune.store.rundir import CHECKPOINT, RunDir, create
from tests.conftest import run_cli


def write_corpus(folder: Path) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    for lang, word in (("en", "the"), ("de", "der")):
        docs = [" ".join(f"{word}{d}x{i}" for i in range(30)) for d in range(40)]
        (folder / f"{lang}.txt").write_text("\n\n".join(docs), encoding="utf-8")
    return {"source": "files", "options": {"path": str(folder)}}


def launch(ws: Path, corpus: dict[str, Any], method: str) -> RunDir:
    exp = from_dict(
        {
            "name": "export",
            "dense_baseline": False,
            "models": [{"id": "random:llama-tiny", "dtype": "float32", "device": "cpu"}],
            "pruning": {"methods": [method], "sparsity": [0.5]},
            "calibration": {"languages": ["de"], "nsamples": 4, "seqlen": 32, "corpus": corpus},
            "evaluation": {"languages": ["en", "de"], "max_tokens": 200, "batch_size": 2},
            "analysis": {"masks": False, "neurons": False, "drift": False},
        }
    )
    (run,) = exp.runs()
    create(ws / "runs", run.id, run.model_dump(mode="json"))
    assert run_worker(ws, [run.id], "w-test") == {run.id: "done"}
    return RunDir(ws / "runs" / run.id)


def perplexity_of_export(folder: Path, rd: RunDir) -> dict[tuple[str, str], float]:
    """Load the folder as any user would and measure it as the run's eval_ppl stage does."""
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    run = Run.model_validate(rd.read_spec())
    ev = run.evaluation
    corpus = shared_corpus(ev.corpus)
    out = {}
    for lang in ev.languages:
        res = evaluate_perplexity(
            model,
            tokenizer,
            corpus.heldout_documents(lang, ev.languages),
            seqlen=ev.seqlen,
            max_tokens=ev.max_tokens,
            batch_size=ev.batch_size,
            language=lang,
        )
        for row in res.rows(lang, corpus.name):
            out[(lang, row["metric"])] = row["value"]
    return out


def recorded(rd: RunDir) -> dict[tuple[str, str], float]:
    return {(r["language"], r["metric"]): r["value"] for r in rd.read_metrics()
            if r["kind"] == "perplexity"}  # fmt: skip


@pytest.mark.parametrize("method", ["wanda_owl", "ria"])
def test_exported_model_reproduces_the_runs_perplexity_exactly(tmp_path: Path, method: str) -> None:
    ws = tmp_path / "ws"
    rd = launch(ws, write_corpus(tmp_path / "corpus"), method)
    assert not (rd.path / CHECKPOINT).is_file()  # a done run keeps no pruned weights
    out = tmp_path / "export"
    done = export_run(rd, ws, out)
    assert done.source == "re-pruned"
    assert {"config.json", "model.safetensors", "README.md", "tokenizer.json"} <= {
        p.name for p in out.iterdir()
    }
    truth = recorded(rd)
    got = perplexity_of_export(out, rd)
    assert set(got) == set(truth) and len(truth) == 6  # ppl, bpb, nll in en and de
    for key, value in truth.items():
        assert got[key] == value, key  # the same model: bit for bit the same numbers

    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    weights = [lin.weight for layer in find_decoder_layers(model)
               for lin in find_linears(layer).values()]  # fmt: skip
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zeros == pytest.approx(rd.status()["achieved_sparsity"], abs=1e-12)

    card = (out / "README.md").read_text()
    spec = json.loads(rd.spec.read_text())
    for fact in ("random:llama-tiny", f"| method | {method} |", "| calibration language | de |",
                 "| nsamples | 4 |", "| seqlen | 32 |", "| seed | 0 |", "| langprune | ",
                 "files", f"run `{rd.id}`"):  # fmt: skip
        assert fact in card, fact
    assert spec["method"] == method
    ppl_en = truth[("en", "ppl")]
    assert "| perplexity | " in card and f"{ppl_en:.4f}" in card
    if method == "wanda_owl":
        owl = rd.status()["owl"]
        assert "OWL allocation (m = 5.0, lambda = 0.08)" in card
        assert f"| 0 | {owl['layer_sparsity'][0]:.4f} |" in card


def test_saved_pruned_weights_are_exported_as_they_are(tmp_path: Path) -> None:
    """pruned.pt, when a run has one, is the model written out (no pruning again)."""
    ws = tmp_path / "ws"
    rd = launch(ws, write_corpus(tmp_path / "corpus"), "wanda")
    first = export_run(rd, ws, tmp_path / "first")
    model = AutoModelForCausalLM.from_pretrained(first.path, dtype=torch.float32)
    state = model.state_dict()
    key = next(k for k in state if k.endswith("mlp.down_proj.weight"))
    state[key][:, :3] = 0  # a mark no pruning would make
    save_pruned_state(state, rd.path / CHECKPOINT)
    done = export_run(rd, ws, tmp_path / "second")
    assert done.source == "checkpoint"
    again = AutoModelForCausalLM.from_pretrained(done.path, dtype=torch.float32).state_dict()
    assert torch.equal(again[key], state[key])
    assert "saved pruned weights" in (done.path / "README.md").read_text()


def save_pruned_state(state: dict[str, torch.Tensor], path: Path) -> None:
    torch.save(state, path)


def test_export_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    rd = launch(ws, write_corpus(tmp_path / "corpus"), "magnitude")
    out = tmp_path / "taken"
    out.mkdir()
    (out / "x").write_text("mine")
    with pytest.raises(LangpruneError, match="not empty"):
        export_run(rd, ws, out)
    assert [p.name for p in out.iterdir()] == ["x"]


def test_cli_export_says_it_reprunes_and_a_push_offline_is_one_line_exit_2(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    rd = launch(ws, write_corpus(tmp_path / "corpus"), "wanda")
    out = tmp_path / "export"
    env = {"HF_HUB_OFFLINE": "1", "HF_TOKEN": "", "HF_HOME": str(tmp_path / "hf")}
    res = run_cli("export", rd.id[:8], str(out), "--push", "me/pruned", workspace=ws, env=env)
    assert res.returncode == 2, res.stderr
    assert f"run {rd.id} kept no pruned weights: pruning it again" in res.stdout
    assert f"exported run {rd.id} (re-pruned" in res.stdout
    # progress bars of the writer aside, the failure is one line
    errors = [line for line in res.stderr.splitlines() if "Writing model shards" not in line]
    errors = [line for line in errors if line.strip()]
    assert len(errors) == 1 and "error: --push me/pruned: cannot upload" in errors[0], res.stderr
    assert "Traceback" not in res.stderr
    assert (out / "model.safetensors").is_file()  # the export itself stays
    bad = run_cli("export", rd.id, str(tmp_path / "other"), "--push", "noslash", workspace=ws)
    assert bad.returncode == 2 and "owner/name" in bad.stderr
    assert not (tmp_path / "other").exists()
