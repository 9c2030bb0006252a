"""The pruning driver and methods on tiny random models of every supported architecture."""

from __future__ import annotations

import pytest
import torch

from langprune.engine.models.random_models import build_random_model
from langprune.engine.models.snapshot import DenseSnapshot
from langprune.engine.prune.driver import SparsityError, check_matrix, prune_model
from langprune.engine.prune.layers import (
    capture_layer_inputs,
    find_decoder_layers,
    find_linears,
)
from langprune.engine.prune.methods import (
    InputStats,
    lowest_k_mask,
    magnitude,
    sparsegpt,
    wanda,
)
from langprune.vocab import Sparsity as Pattern

ARCHS = ["llama-tiny", "mistral-tiny", "qwen2-tiny", "gemma3-tiny", "cohere-tiny"]
NSAMPLES, SEQLEN = 5, 32


def tiny(name: str, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    return build_random_model(name, dtype, "cpu", seed=0)[0]


def calib(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(4, 260, (NSAMPLES, SEQLEN), generator=g)


def linear_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    layers = find_decoder_layers(model)
    return {
        f"{i}.{n}": lin.weight.detach().clone()
        for i, layer in enumerate(layers)
        for n, lin in find_linears(layer).items()
    }


@pytest.mark.parametrize("sparsity", ["0.5", "2:4"])
@pytest.mark.parametrize("method", ["magnitude", "wanda", "sparsegpt"])
@pytest.mark.parametrize("arch", ARCHS)
def test_prunes_every_sublayer(arch: str, method: str, sparsity: str) -> None:
    model = tiny(arch)
    dense = {k: v.detach().clone() for k, v in model.state_dict().items()}
    dense_linear = linear_weights(model)
    report = prune_model(model, calib(), method, sparsity, micro_batch=2)  # 2+2+1: a remainder

    pruned_linear = linear_weights(model)
    assert len(pruned_linear) == 7 * len(find_decoder_layers(model))
    for name, w in pruned_linear.items():
        zeros = int((w == 0).sum())
        if sparsity == "0.5" and method != "wanda":
            # the reference `<=` rule: k + 1 per matrix (magnitude) or per 128-column block
            blocks = 1 if method == "magnitude" else -(-w.shape[1] // 128)
            assert w.numel() // 2 + blocks <= zeros <= w.numel() // 2 + blocks + 2, name
        else:
            assert zeros == w.numel() // 2, name
        if sparsity == "2:4":
            assert ((w.view(w.shape[0], -1, 4) == 0).sum(-1) >= 2).all(), name
        if method == "sparsegpt":
            kept = w != 0
            # the OBS update moves the weights it keeps
            assert not torch.equal(w[kept], dense_linear[name][kept]), name
        else:
            # magnitude and Wanda only remove weights: pruned = dense with the mask applied
            assert torch.equal(w, dense_linear[name] * (w != 0)), name
    linear_keys = {f"{k}.weight" for k in pruned_linear}
    for key, value in model.state_dict().items():
        suffix = key.split("layers.", 1)[-1]
        if suffix not in linear_keys:  # embeddings, norms, lm_head, biases: untouched
            assert torch.equal(value, dense[key]), key
    assert report.overall == pytest.approx(0.5, abs=1e-3)
    assert report.per_layer == pytest.approx([0.5] * len(report.per_layer), abs=1e-3)
    assert torch.isfinite(model(calib()).logits).all()


@pytest.mark.parametrize("arch", ARCHS)
def test_layer_by_layer_replay_equals_the_model(arch: str) -> None:
    """Captured per-layer arguments reproduce the model's own hidden states exactly."""
    model = tiny(arch)
    ids = calib()
    layers = find_decoder_layers(model)
    inputs = capture_layer_inputs(model, layers, ids, 2, torch.device("cpu"))
    with torch.no_grad():
        expected = model(ids, output_hidden_states=True).hidden_states
        x = inputs.hidden
        assert torch.equal(x, expected[0])
        for i, layer in enumerate(layers[:-1]):
            x = torch.cat([inputs.call(layer, i, x[s : s + 2]) for s in range(0, NSAMPLES, 2)])
            assert torch.allclose(x, expected[i + 1], atol=1e-6, rtol=1e-5), f"layer {i}"


def test_gemma3_layers_get_their_own_masks_and_rotary() -> None:
    model = tiny("gemma3-tiny")
    types = model.config.layer_types
    assert "sliding_attention" in types and "full_attention" in types
    inputs = capture_layer_inputs(
        model, find_decoder_layers(model), calib(), NSAMPLES, torch.device("cpu")
    )
    kw = [inputs.calls[i][NSAMPLES][1] for i in range(len(types))]
    sliding, full = types.index("sliding_attention"), types.index("full_attention")
    # the sliding window (16) is shorter than the sequence (32), so the masks must differ
    # (sdpa passes no mask at all to causal global layers)
    assert isinstance(kw[sliding]["attention_mask"], torch.Tensor)
    assert kw[full]["attention_mask"] is None or not torch.equal(
        kw[sliding]["attention_mask"], kw[full]["attention_mask"]
    )
    assert not torch.equal(
        kw[sliding]["position_embeddings"][0], kw[full]["position_embeddings"][0]
    )


@pytest.mark.parametrize("arch", ["llama-tiny", "gemma3-tiny"])
def test_wanda_masks_follow_the_formula(arch: str) -> None:
    """Layer i's mask = per-row lowest |W| * sqrt(mean x^2), with x produced by the dense layer i
    after layers < i were pruned (computed here through the model's own full forward)."""
    model = tiny(arch)
    dense = DenseSnapshot.take(model)
    ids = calib()
    prune_model(model, ids, "wanda", "0.5", micro_batch=2)
    pruned = linear_weights(model)
    n_layers = len(find_decoder_layers(model))
    for i in range(n_layers):
        hybrid = tiny(arch)
        dense.restore(hybrid)
        layers = find_decoder_layers(hybrid)
        for j in range(i):  # earlier layers pruned, layer i and later dense
            for name, lin in find_linears(layers[j]).items():
                lin.weight.data.copy_(pruned[f"{j}.{name}"])
        seen: dict[str, torch.Tensor] = {}

        def keep(name: str, store: dict[str, torch.Tensor] = seen):
            def hook(module: torch.nn.Module, args: tuple, output: torch.Tensor) -> None:
                store[name] = args[0].reshape(-1, args[0].shape[-1])

            return hook

        hooks = [
            lin.register_forward_hook(keep(name)) for name, lin in find_linears(layers[i]).items()
        ]
        with torch.no_grad():
            hybrid(ids)
        for h in hooks:
            h.remove()
        for name, lin in find_linears(layers[i]).items():
            x = seen[name].double()
            score = lin.weight.detach().double().abs() * x.pow(2).mean(0).sqrt()
            k = score.shape[1] // 2
            expected = torch.zeros_like(score, dtype=torch.bool)
            expected.scatter_(1, score.argsort(dim=1, stable=True)[:, :k], True)
            assert torch.equal(pruned[f"{i}.{name}"] == 0, expected), f"layer {i} {name}"


def reference_sparsegpt(
    W: torch.Tensor, X: torch.Tensor, p: Pattern, blocksize: int = 128, percdamp: float = 0.01
) -> torch.Tensor:
    """SparseGPT written out plainly in float64: full (non-lazy) OBS update after every column."""
    W = W.clone().double()
    X = X.double()
    H = 2 / X.shape[0] * X.T @ X  # X: [samples, columns], one token per sample
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H += percdamp * torch.diag(H).mean() * torch.eye(H.shape[0], dtype=H.dtype)
    U = torch.linalg.cholesky(torch.linalg.inv(H), upper=True)
    mask = torch.zeros_like(W, dtype=torch.bool)
    for i in range(W.shape[1]):
        if not p.is_nm and i % blocksize == 0:
            j = min(i + blocksize, W.shape[1])
            score = W[:, i:j] ** 2 / torch.diag(U)[i:j] ** 2
            k = int(score.numel() * p.fraction)
            mask[:, i:j] = score <= score.flatten().sort().values[k]
        if p.is_nm and i % p.m == 0:
            score = W[:, i : i + p.m] ** 2 / torch.diag(U)[i : i + p.m] ** 2
            for r in range(W.shape[0]):
                mask[r, i + score[r].argsort()[: p.n]] = True
        q = torch.where(mask[:, i], 0.0, W[:, i])
        err = (W[:, i] - q) / U[i, i]
        W[:, i:] -= torch.outer(err, U[i, i:])
        W[:, i] = q
    return W


@pytest.mark.parametrize("sparsity", ["0.5", "0.3", "2:4", "4:8"])
def test_sparsegpt_equals_plain_float64_implementation(sparsity: str) -> None:
    g = torch.Generator().manual_seed(1)
    cols = 256  # two blocks of 128: the lazy update between blocks is exercised
    X = torch.randn(600, cols, generator=g, dtype=torch.float64) @ torch.randn(
        cols, cols, generator=g, dtype=torch.float64
    )
    X[:, 7] = 0  # a dead input column
    Wa = torch.randn(48, cols, generator=g, dtype=torch.float64)
    Wb = torch.randn(16, cols, generator=g, dtype=torch.float64)
    p = Pattern.parse(sparsity)
    stats = InputStats(cols, torch.device("cpu"), hessian=True, dtype=torch.float64)
    for chunk in X.split(128):  # one token per "sample", as the reference's 2/N convention
        stats.add(chunk.unsqueeze(1))
    a, b = Wa.clone(), Wb.clone()
    sparsegpt([a, b], stats, p)  # stacked rows, per-matrix masks
    for got, W in ((a, Wa), (b, Wb)):
        want = reference_sparsegpt(W, X, p)
        assert torch.equal(got == 0, want == 0)
        assert ((got - want).norm() / want.norm()).item() < 1e-5


def test_sparsegpt_reconstructs_better_than_wanda_and_magnitude() -> None:
    g = torch.Generator().manual_seed(2)
    cols = 128
    X = torch.randn(2048, cols, generator=g) @ torch.randn(cols, cols, generator=g)
    X = X * torch.rand(cols, generator=g) * 3  # uneven channel scales, as in real activations
    W = torch.randn(96, cols, generator=g)
    errors = {}
    for name in ("magnitude", "wanda", "sparsegpt"):
        for sparsity in ("0.5", "2:4"):
            w = W.clone()
            stats = InputStats(cols, torch.device("cpu"), hessian=name == "sparsegpt")
            stats.add(X.view(16, 128, cols))
            p = Pattern.parse(sparsity)
            if name == "magnitude":
                magnitude([w], None, p)
            elif name == "wanda":
                wanda([w], stats, p)
            else:
                sparsegpt([w], stats, p)
            errors[name, sparsity] = (X @ W.T - X @ w.T).norm().item()
    for sparsity in ("0.5", "2:4"):
        assert errors["sparsegpt", sparsity] < errors["wanda", sparsity]
        assert errors["sparsegpt", sparsity] < errors["magnitude", sparsity]


def test_same_seed_same_masks() -> None:
    masks = []
    for _ in range(2):
        model = tiny("llama-tiny")
        prune_model(model, calib(seed=0), "wanda", "0.5")
        masks.append({k: v == 0 for k, v in linear_weights(model).items()})
    assert all(torch.equal(masks[0][k], masks[1][k]) for k in masks[0])


def test_unstructured_ratio_other_than_half() -> None:
    model = tiny("qwen2-tiny")
    report = prune_model(model, calib(), "wanda", 0.25)
    assert report.overall == pytest.approx(0.25, abs=1e-3)
    assert report.sparsity == "0.25"


def test_sparsity_misses_fail_loudly() -> None:
    w = torch.ones(4, 8)
    w[:, :3] = 0  # 37.5%
    with pytest.raises(SparsityError, match="misses"):
        check_matrix("w", w, Pattern.parse("0.5"))
    w = torch.ones(4, 8)
    w[:, ::4] = 0  # one zero per group of 4
    with pytest.raises(SparsityError, match="groups"):
        check_matrix("w", w, Pattern.parse("2:4"))
    w[:, 1::4] = 0
    assert check_matrix("w", w, Pattern.parse("2:4")) == 16


def test_nm_needs_divisible_inputs() -> None:
    with pytest.raises(ValueError, match="divisible"):
        prune_model(tiny("llama-tiny"), calib(), "wanda", "3:7")


def test_progress_reports_every_layer() -> None:
    events: list[dict] = []
    model = tiny("llama-tiny")
    prune_model(model, calib(), "sparsegpt", "2:4", progress=lambda **kw: events.append(kw))
    n = len(find_decoder_layers(model))
    assert [e["step"] for e in events] == list(range(1, n + 1))
    for e in events:
        assert e["stage"] == "prune" and e["total"] == n
        assert e["tokens_per_s"] > 0 and e["mem_bytes"] > 0


def test_offload_gives_the_same_result() -> None:
    """Offload keeps the model in CPU memory and moves one layer at a time (here to the CPU too)."""
    a, b = tiny("gemma3-tiny"), tiny("gemma3-tiny")
    prune_model(a, calib(), "sparsegpt", "0.5")
    report = prune_model(b, calib(), "sparsegpt", "0.5", offload=True, device="cpu")
    assert report.offload
    wa, wb = linear_weights(a), linear_weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_snapshot_restore_is_bit_exact() -> None:
    model = tiny("cohere-tiny", torch.bfloat16)  # tied embeddings, bf16
    before = {k: v.clone() for k, v in model.state_dict().items()}
    snap = DenseSnapshot.take(model)
    prune_model(model, calib(), "sparsegpt", "0.5")
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    snap.restore(model)
    for k, v in model.state_dict().items():
        assert torch.equal(v.view(torch.int16), before[k].view(torch.int16)), k
    assert model.lm_head.weight is model.model.embed_tokens.weight


def test_lowest_k_mask_matches_a_stable_sort() -> None:
    g = torch.Generator().manual_seed(5)
    for _ in range(100):
        score = torch.randint(0, 4, (6, 16), generator=g).float()  # many ties
        k = int(torch.randint(1, 17, (), generator=g))
        want = torch.zeros_like(score, dtype=torch.bool)
        want.scatter_(1, torch.sort(score, dim=-1, stable=True).indices[:, :k], True)
        assert torch.equal(lowest_k_mask(score, k), want)


def reference_magnitude_mask(w: torch.Tensor, fraction: float) -> torch.Tensor:
    """locuslab/wanda prune_magnitude, written out: W_metric <= sort(W_metric)[int(numel * s)]."""
    metric = w.abs()
    thresh = torch.sort(metric.flatten())[0][int(w.numel() * fraction)]
    return metric <= thresh


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("fraction", [0.5, 0.3, 0.7, 0.01])
def test_magnitude_selects_as_the_reference(dtype: torch.dtype, fraction: float) -> None:
    g = torch.Generator().manual_seed(3)
    w = (torch.randn(96, 80, generator=g) * 0.02).to(dtype)
    w[0, :10] = w[1, 0]  # ties straddling the threshold, as low-precision weights have
    want = reference_magnitude_mask(w, fraction)
    got = w.clone()
    magnitude([got], None, Pattern.parse(fraction))
    assert torch.equal(got == 0, want | (w == 0))
    assert torch.equal(got[~want], w[~want])
    assert int(want.sum()) >= int(w.numel() * fraction) + 1  # k + 1, ties included


def test_magnitude_ties_at_the_threshold_all_go() -> None:
    w = torch.tensor([[1.0, 2.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    got = w.clone()
    magnitude(
        [got], None, Pattern.parse(0.25)
    )  # k = 2: threshold sort[2] = 2.0, so all three 2.0 go
    assert got.tolist() == [[0.0, 0.0, 0.0, 0.0, 3.0, 4.0, 5.0, 6.0]]


def test_cpu_micro_batch_is_chosen_by_tokens_per_call() -> None:
    from langprune.engine.prune.driver import CPU_TOKENS_PER_CALL, auto_micro_batch

    model = tiny("llama-tiny")
    layers = find_decoder_layers(model)
    cpu = torch.device("cpu")
    for seqlen, want in ((2048, 1), (512, 1), (128, 4), (32, 16)):
        got = auto_micro_batch(model, layers, torch.Size((128, seqlen)), cpu)
        assert got == want == max(1, CPU_TOKENS_PER_CALL // seqlen), seqlen
    assert auto_micro_batch(model, layers, torch.Size((3, 32)), cpu) == 3  # never above n
