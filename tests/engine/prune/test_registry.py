"""Methods as a registry: one signature, registered by name; the driver has no per-method branch."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import torch

from langprune.engine.models.random_models import build_random_model
from langprune.engine.prune import driver, methods
from langprune.engine.prune.methods import REGISTRY, get_method, register
from langprune.vocab import METHODS


def test_registry_holds_every_method_of_the_vocabulary_with_one_signature() -> None:
    assert tuple(REGISTRY) == METHODS
    for name, m in REGISTRY.items():
        params = list(inspect.signature(m.fn).parameters.values())
        assert [p.name for p in params[:3]] == ["weights", "stats", "p"], name
        assert params[-1].kind is inspect.Parameter.VAR_KEYWORD, name
    assert not REGISTRY["magnitude"].needs_data
    assert REGISTRY["sparsegpt"].needs_hessian and not REGISTRY["wanda"].needs_hessian


def test_unknown_method_names_the_allowed_ones_and_a_near_match() -> None:
    with pytest.raises(ValueError, match=r"'wand'.*did you mean 'wanda'.*magnitude, wanda"):
        get_method("wand")


def test_driver_source_has_no_branch_on_a_method_name() -> None:
    tree = ast.parse(Path(driver.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            names = [c.value for c in node.comparators if isinstance(c, ast.Constant)]
            assert not set(names) & set(METHODS), ast.unparse(node)


def test_a_new_method_is_one_function_plus_one_registration(monkeypatch) -> None:
    monkeypatch.setattr(methods, "REGISTRY", dict(REGISTRY))
    seen: list[tuple[int, bool, str]] = []

    @register("first_half")
    def first_half(weights, stats, p, **options):
        """Zero the first `fraction` of each row's inputs (a toy, deterministic method)."""
        seen.append((len(weights), stats is not None, str(p)))
        for w in weights:
            w.data[:, : int(w.shape[1] * p.fraction)] = 0

    model = build_random_model("llama-tiny", torch.float32, "cpu", seed=0)[0]
    ids = torch.randint(0, 64, (2, 16))
    report = driver.prune_model(model, ids, "first_half", 0.5, device="cpu")
    assert seen and all(has_stats and s == "0.5" for _, has_stats, s in seen)
    assert report.overall == pytest.approx(0.5, abs=1e-3)
    # recompute the zeros independently from the weights the method was given
    for lin in driver.find_linears(driver.find_decoder_layers(model)[0]).values():
        w = lin.weight
        assert bool((w[:, : w.shape[1] // 2] == 0).all())
