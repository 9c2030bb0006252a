"""RIA and OWL against independent recomputations of the reference formulas, on tiny random models.

RIA (biomedical-cybernetics/Relative-importance-and-activation-pruning lib/prune.py, prune_ria):
score = (|W| / column sums + |W| / row sums) * sqrt(scaler_row) ** a, scaler_row = sum_t x^2 /
nsamples; unstructured: `score <= sort(score)[int(numel * s)]` per matrix; N:M: n lowest of m.
OWL (luuyin/OWL lib/prune_all.py, prune_wanda_outlier): per layer the percent of Wanda scores above
M x their mean (dense model), min-max scaled to [0, 2 lambda], centred on 1 - s.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from langprune.cellid import CALIBRATION_FREE
from langprune.engine.models.random_models import build_random_model
from langprune.engine.prune.driver import prune_model
from langprune.engine.prune.layers import find_decoder_layers, find_linears
from langprune.engine.prune.methods import REGISTRY, InputStats, ria
from langprune.engine.prune.owl import layer_sparsities
from langprune.vocab import Sparsity

NSAMPLES, SEQLEN = 4, 32


def tiny(arch: str = "llama-tiny") -> torch.nn.Module:
    return build_random_model(arch, torch.float32, "cpu", seed=0)[0]


def calib(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(4, 260, (NSAMPLES, SEQLEN), generator=g)


def dense_inputs(model: torch.nn.Module, ids: torch.Tensor) -> dict[str, np.ndarray]:
    """Every linear sublayer's input on the dense model's own forward, as float64 [tokens, cols]:
    the inputs the dense pass (and, for layer 0, the pruning pass) of both methods sees."""
    seen: dict[str, np.ndarray] = {}
    hooks = []
    for i, layer in enumerate(find_decoder_layers(model)):
        for name, lin in find_linears(layer).items():

            def keep(module, args, output, key=f"{i}.{name}"):
                seen[key] = args[0].reshape(-1, args[0].shape[-1]).double().numpy()

            hooks.append(lin.register_forward_hook(keep))
    with torch.no_grad():
        model(ids)
    for h in hooks:
        h.remove()
    return seen


def reference_ria_mask(w: np.ndarray, x: np.ndarray, p: str, a: float = 0.5) -> np.ndarray:
    aw = np.abs(w)
    scaler_row = (x**2).sum(0) / NSAMPLES  # WrappedGPT: sum of ||x_j||^2 over samples / nsamples
    score = (aw / aw.sum(0) + aw / aw.sum(1)[:, None]) * np.sqrt(scaler_row)[None, :] ** a
    if ":" in p:
        n, m = map(int, p.split(":"))
        mask = np.zeros_like(score, dtype=bool)
        for c in range(0, score.shape[1], m):
            idx = np.argsort(score[:, c : c + m], axis=1, kind="stable")[:, :n]
            np.put_along_axis(mask[:, c : c + m], idx, True, axis=1)
        return mask
    thresh = np.sort(score.ravel())[int(score.size * float(p))]
    return score <= thresh


@pytest.mark.parametrize("sparsity", ["0.5", "2:4"])
def test_ria_masks_of_the_first_layer_follow_the_reference_score(sparsity: str) -> None:
    """Layer 0 sees the dense model's inputs, so its masks are recomputed exactly from them."""
    model = tiny()
    ids = calib()
    weights = {n: lin.weight.detach().double().numpy().copy()
               for n, lin in find_linears(find_decoder_layers(model)[0]).items()}  # fmt: skip
    x = dense_inputs(model, ids)
    prune_model(model, ids, "ria", sparsity, micro_batch=2)
    for name, lin in find_linears(find_decoder_layers(model)[0]).items():
        expected = reference_ria_mask(weights[name], x[f"0.{name}"], sparsity)
        got = (lin.weight.detach() == 0).numpy()
        assert np.array_equal(got, expected), name


@pytest.mark.parametrize("a", [0.5, 1.0, 0.0])
def test_ria_function_equals_the_reference_on_random_matrices(a: float) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 40, 48, generator=g, dtype=torch.float64) * torch.linspace(0.1, 4, 48)
    stats = InputStats(48, torch.device("cpu"), hessian=False, dtype=torch.float64)
    stats.add(x)
    for p in ("0.6", "4:8"):
        w = torch.randn(24, 48, generator=g, dtype=torch.float64)
        expected = reference_ria_mask(w.numpy(), x.reshape(-1, 48).numpy(), p, a)
        # our stats count 3 samples; the reference's 1/nsamples factor only scales the score
        ria([w], stats, Sparsity.parse(p), a=a)
        assert np.array_equal((w == 0).numpy(), expected), p


def reference_owl(model: torch.nn.Module, ids: torch.Tensor, s: float, m: float, lam: float):
    """Outlier percent per layer and layer sparsities, straight from the reference formula."""
    x = dense_inputs(model, ids)
    ratios = []
    for i, layer in enumerate(find_decoder_layers(model)):
        metric = []
        for name, lin in find_linears(layer).items():
            scaler_row = (x[f"{i}.{name}"] ** 2).sum(0) / NSAMPLES
            metric.append(
                (np.abs(lin.weight.detach().double().numpy()) * np.sqrt(scaler_row)).ravel()
            )
        flat = np.concatenate(metric)
        ratios.append(float((flat > flat.mean() * m).sum()) / flat.size * 100)
    r = np.array(ratios)
    r = (r - r.min()) * (1 / (r.max() - r.min()) * lam * 2)
    keep = r - r.mean() + (1 - s)
    return ratios, list(1 - keep)


@pytest.mark.parametrize("method", ["wanda_owl", "magnitude_owl", "sparsegpt_owl"])
@pytest.mark.parametrize(("m", "lam"), [(5.0, 0.08), (3.0, 0.2)])
def test_owl_ratios_and_overall_sparsity_follow_the_reference(
    method: str, m: float, lam: float
) -> None:
    model = tiny()
    ids = calib()
    outliers, sparsities = reference_owl(tiny(), ids, 0.5, m, lam)
    report = prune_model(model, ids, method, "0.5", micro_batch=2,
                         options={"owl_m": m, "owl_lambda": lam})  # fmt: skip
    assert report.owl is not None
    assert report.owl.outlier_pct == pytest.approx(outliers, rel=1e-9)
    assert report.owl.layer_sparsity == pytest.approx(sparsities, abs=1e-12)
    assert np.mean(report.owl.layer_sparsity) == pytest.approx(0.5, abs=1e-12)
    assert max(sparsities) - min(sparsities) == pytest.approx(2 * lam)
    # from the weights: each layer pruned at its own ratio, the model at the requested one
    zeros = total = 0
    for i, layer in enumerate(find_decoder_layers(model)):
        lz = lt = 0
        for lin in find_linears(layer).values():
            w = lin.weight.detach()
            lz, lt = lz + int((w == 0).sum()), lt + w.numel()
            if method == "wanda_owl":  # per output row: int(columns * layer sparsity) each
                per_row = (w == 0).sum(1)
                assert bool((per_row == int(w.shape[1] * sparsities[i])).all())
        assert lz / lt == pytest.approx(sparsities[i], abs=1 / 64 + 1e-9)  # one weight a row
        zeros, total = zeros + lz, total + lt
    assert zeros / total == pytest.approx(0.5, abs=1 / 64)
    assert report.overall == zeros / total


def test_owl_on_a_wider_model_reaches_the_requested_sparsity() -> None:
    model = build_random_model("llama-768", torch.float32, "cpu", seed=0)[0]
    layers = find_decoder_layers(model)
    del layers[2:]  # two layers are enough to differ
    model.config.num_hidden_layers = 2
    ids = torch.randint(4, 260, (2, 16))
    report = prune_model(model, ids, "magnitude_owl", "0.6")
    assert report.owl is not None and len(set(report.owl.layer_sparsity)) == 2
    zeros = sum(int((lin.weight == 0).sum()) for layer in layers
                for lin in find_linears(layer).values())  # fmt: skip
    total = sum(lin.weight.numel() for layer in layers for lin in find_linears(layer).values())
    assert zeros / total == pytest.approx(0.6, abs=2e-3)


def test_owl_layer_sparsities_edge_cases() -> None:
    assert layer_sparsities([1.0, 1.0, 1.0], 0.5) == [0.5, 0.5, 0.5]  # reference: 0/0
    # a layer whose keep ratio reaches 1 gets the reference's floor of 0.01
    assert layer_sparsities([0.0, 10.0], 0.05, lam=0.2)[1] == 0.01


def test_owl_refuses_nm_patterns() -> None:
    with pytest.raises(ValueError, match=r"wanda_owl.*unstructured.*2:4"):
        prune_model(tiny(), calib(), "wanda_owl", "2:4")


def test_calibration_free_methods_of_the_cell_id_are_those_that_read_no_data() -> None:
    assert {n for n, m in REGISTRY.items() if not m.needs_data} == CALIBRATION_FREE
    assert all(REGISTRY[n].needs_data for n in ("ria", "magnitude_owl"))
