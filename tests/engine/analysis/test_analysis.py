"""Analyses recomputed independently on tiny models and built activations."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from langprune.engine.analysis.drift import LayerOutputs, relative_errors
from langprune.engine.analysis.neurons import ActivationCounter, identify
from langprune.engine.analysis.stage import extract_masks, run_analyses
from langprune.engine.models.random_models import build_random_model
from langprune.engine.models.snapshot import DenseSnapshot
from langprune.engine.prune.driver import prune_model
from langprune.engine.prune.layers import find_decoder_layers, find_linears
from langprune.engine.spec.experiment import (
    AnalysisSpec,
    CorpusSpec,
    EvaluationSpec,
    ModelSpec,
    Run,
)
from langprune.store.masks import overlap_rows, read_masks
from langprune.store.rundir import RunDir


def test_lape_finds_exactly_the_neurons_built_to_be_specific() -> None:
    rng = np.random.default_rng(0)
    layers, neurons, langs = 4, 200, 3
    # every neuron fires a little in every language; 10 per language fire often in one only
    probs = rng.uniform(0.01, 0.05, size=(layers, neurons, langs))
    truth: list[set[tuple[int, int]]] = [set() for _ in range(langs)]
    flat = rng.choice(layers * neurons, size=10 * langs, replace=False)
    for i, f in enumerate(flat):
        lang = i % langs
        layer, neuron = divmod(int(f), neurons)
        probs[layer, neuron] = 0.005  # quiet in the other languages
        probs[layer, neuron, lang] = rng.uniform(0.6, 0.9)
        truth[lang].add((layer, neuron))
    # the reference's thresholds, except top_rate: 5% of 800 neurons would be 40 > the 30 built
    found = identify(probs, top_rate=30 / (layers * neurons))
    assert [set(f) for f in found] == truth


def test_lape_dismisses_neurons_active_everywhere() -> None:
    probs = np.full((1, 100, 2), 0.02)
    probs[0, :5] = 0.9  # active in both languages, below the filter quantile (0.9): dismissed
    probs[0, 7, 1] = 0.95  # the only neuron above it, in one language
    found = identify(probs, top_rate=0.03)  # 3 lowest-entropy slots, one candidate
    assert found == [[], [(0, 7)]]


@pytest.fixture(scope="module")
def tiny() -> tuple[torch.nn.Module, object]:
    return build_random_model("llama-tiny", torch.float32, "cpu", seed=0)


def test_activation_counter_matches_a_direct_computation(tiny) -> None:
    model, _ = tiny
    layers = find_decoder_layers(model)
    ids = torch.randint(4, 250, (2, 16), generator=torch.Generator().manual_seed(1))
    seen: list[torch.Tensor] = []
    mlp = layers[1].mlp
    handle = mlp.gate_proj.register_forward_hook(lambda m, a, o: seen.append(o.detach()))
    with torch.no_grad(), ActivationCounter(layers) as counter:
        model(ids, use_cache=False)
    handle.remove()
    expect = (mlp.act_fn(seen[0]) > 0).reshape(-1, seen[0].shape[-1]).double().mean(0)
    assert counter.tokens == 32
    np.testing.assert_allclose(counter.probs()[1], expect.numpy())


def test_drift_of_dense_against_itself_is_zero_and_positive_after_pruning(tiny) -> None:
    model, _ = tiny
    snap = DenseSnapshot.take(model)
    layers = find_decoder_layers(model)
    ids = torch.randint(4, 250, (2, 16), generator=torch.Generator().manual_seed(2))

    def outputs() -> list[torch.Tensor]:
        outs: list[list[torch.Tensor]] = [[] for _ in layers]
        with torch.no_grad(), LayerOutputs(layers, lambda i, h: outs[i].append(h.clone())):
            model(ids, use_cache=False)
        return [torch.cat(o) for o in outs]

    dense = outputs()
    assert relative_errors(outputs(), dense) == [0.0] * len(layers)
    prune_model(model, None, "magnitude", "0.5")
    pruned = outputs()
    snap.restore(model)
    errs = relative_errors(pruned, dense)
    for p, d, e in zip(pruned, dense, errs, strict=True):
        assert e == pytest.approx(float((p - d).norm() / d.norm()), rel=1e-6)
        assert e > 0


def _ctx(model, tok):
    corpus = SimpleNamespace(documents=lambda lang, part: [f"text in {lang} " * 200])
    loaded = SimpleNamespace(model=model, tokenizer=tok, device=torch.device("cpu"))
    return SimpleNamespace(
        loaded=loaded,
        snapshot=DenseSnapshot.take(model),
        dirty=False,
        corpus=lambda spec: corpus,
        key="llama-tiny",
    )


def test_stage_writes_masks_and_rows_and_leaves_the_model_dense(tmp_path: Path, tiny) -> None:
    model, tok = tiny
    ctx = _ctx(model, tok)
    dense_w = {k: v.clone() for k, v in model.state_dict().items()}
    ids = torch.randint(4, 250, (4, 32), generator=torch.Generator().manual_seed(3))
    prune_model(model, ids, "wanda", "0.5")
    zeros = {
        f"{i}.{n}": (lin.weight == 0).numpy().copy()
        for i, layer in enumerate(find_decoder_layers(model))
        for n, lin in find_linears(layer).items()
    }
    ev = EvaluationSpec(languages=["de", "en"], corpus=CorpusSpec(), seqlen=32)
    run = Run.make(
        "x",
        ModelSpec(id="random:llama-tiny"),
        "wanda",
        "0.5",
        "de",
        0,
        ev,
        analysis=AnalysisSpec(windows=2, seqlen=32),
    )
    rd = RunDir(tmp_path)
    events: list[dict] = []
    run_analyses(run, rd, ctx, lambda **e: events.append(e), ctx.key)
    masks, meta = read_masks(rd.masks)
    assert meta["row_fraction"] is None
    assert set(masks) == set(zeros)
    for key, m in masks.items():
        np.testing.assert_array_equal(m.pruned, zeros[key])
    for k, v in model.state_dict().items():
        assert torch.equal(v, dense_w[k]), k
    rows = rd.read_analysis()
    drift = [r for r in rows if r["analysis"] == "drift"]
    assert {(r["language"], r["layer"]) for r in drift} == {
        (lang, i) for lang in ("de", "en") for i in range(len(find_decoder_layers(model)))
    }
    assert all(r["value"] > 0 for r in drift)
    assert {r["metric"] for r in rows if r["analysis"] == "neurons"} >= {
        "n_specific",
        "kept",
        "dprob",
    }
    assert any(e["stage"] == "analysis" for e in events)
    # the same cell's mask against itself: overlap 1 everywhere
    assert all(r["jaccard"] == 1.0 for r in overlap_rows(masks, masks))


def test_row_subset_is_the_same_in_every_cell_of_a_model(tiny) -> None:
    model, _ = tiny
    a = extract_masks(model, 0.25, "m")
    b = extract_masks(model, 0.25, "m")
    c = extract_masks(model, 0.25, "other")
    for key in a:
        np.testing.assert_array_equal(a[key].rows, b[key].rows)
        assert len(a[key].rows) == int(np.ceil(0.25 * a[key].shape[0]))
    assert any(not np.array_equal(a[k].rows, c[k].rows) for k in a)


def test_pipeline_runs_the_analysis_stage_and_ingest_reads_it(tmp_path: Path) -> None:
    from langprune.engine.run.pipeline import execute, load_context
    from langprune.engine.spec.experiment import Experiment
    from langprune.store import rundir
    from langprune.store.analysis_queries import analysis
    from langprune.store.ingest import ingest

    exp = Experiment.model_validate(
        {
            "name": "a",
            "models": [{"id": "random:llama-tiny"}],
            "pruning": {"methods": ["wanda"], "sparsity": [0.5]},
            "calibration": {
                "languages": ["en", "de"],
                "seeds": [0, 1],
                "nsamples": 2,
                "seqlen": 32,
                "corpus": {"source": "synthetic"},
            },
            "evaluation": {"languages": ["en", "de"], "max_tokens": 128, "seqlen": 32},
            "analysis": {"windows": 1, "seqlen": 32},
            "dense_baseline": False,
        }
    )
    ws = tmp_path / "ws"
    ctx = None
    for run in exp.runs():
        rd = rundir.create(ws / "runs", run.id, run.model_dump(mode="json"))
        ctx = ctx or load_context(run, ws, lambda **e: None)
        fields = execute(run, rd, ctx, lambda **e: None)
        assert "analysis" in fields["seconds"]
        assert not ctx.dirty
        rd.set_status("done", **fields)
    m, profile, modules = analysis(ws, "masks")
    assert m.rows == m.cols == ["de", "en"]
    assert profile.rows == ["across languages", "same language, seeds"]
    # a real Llama's module types, in their order, each with both rows
    assert modules.rows == profile.rows
    assert modules.cols == ["q", "k", "v", "o", "gate", "up", "down"]
    assert all(m.cells[r, r].n == 1 for r in m.rows)  # two seeds per language: the noise floor
    assert all(0 < c.mean < 1 for c in m.cells.values())
    (drift,) = analysis(ws, "drift", refresh=False)
    assert set(drift.rows) == {f"{c}@{e}" for c in ("de", "en") for e in ("de", "en")}
    (neurons,) = analysis(ws, "neurons", refresh=False)
    assert neurons.rows == ["de", "en"]
    assert ingest(ws).updated == []  # nothing changed: nothing read again
