"""langprune.vocab: one Sparsity type, the mix rule, the display name, the shared lists."""

from __future__ import annotations

import ast
from fractions import Fraction
from pathlib import Path

import pytest

from langprune import vocab
from langprune.vocab import Sparsity, mix_parts, model_display_name, sparsity_fraction

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("value", "canonical", "n", "m"),
    [
        (0.5, "0.5", 0, 0),
        ("0.5", "0.5", 0, 0),
        ("50%", "0.5", 0, 0),
        (" 70% ", "0.7", 0, 0),
        ("12.5%", "0.125", 0, 0),
        (0.25, "0.25", 0, 0),
        ("2:4", "2:4", 2, 4),
        ("4:8", "4:8", 4, 8),
        ("2 : 4", "2:4", 2, 4),
        ("1:4", "1:4", 1, 4),
    ],
)
def test_accepted_forms_and_their_canonical_string(value, canonical, n, m) -> None:
    s = Sparsity.parse(value)
    assert str(s) == canonical
    assert (s.n, s.m, s.is_nm) == (n, m, m > 0)
    # the fraction, recomputed with exact arithmetic from the written value
    if m:
        want = Fraction(n, m)
    else:
        text = str(value).strip()
        want = Fraction(text[:-1]) / 100 if text.endswith("%") else Fraction(text)
    assert s.fraction == pytest.approx(float(want), abs=1e-15)
    assert Sparsity.parse(str(s)) == s  # the canonical string parses back to the same value
    assert Sparsity.parse(s) is s


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (0, "between 0 and 1"),
        (1, "between 0 and 1"),
        ("100%", "between 0 and 1"),
        (-0.1, "-0.1"),
        ("3:2", "0 < N < M"),
        ("2:0", "0 < N < M"),
        ("half", "N:M"),
        (True, "not a sparsity"),
        (None, "not a sparsity"),
        ("", "not a sparsity"),
    ],
)
def test_refused_forms_name_the_value_and_what_is_allowed(value, words) -> None:
    with pytest.raises(ValueError) as err:
        Sparsity.parse(value)
    assert words in str(err.value)
    assert repr(value) in str(err.value)


def test_sparsity_fraction_is_none_for_missing_or_unreadable_values() -> None:
    assert sparsity_fraction("2:4") == 0.5
    assert sparsity_fraction(None) is None
    assert sparsity_fraction("-") is None
    assert sparsity_fraction("junk") is None


def test_mix_rule_and_display_name() -> None:
    assert mix_parts("en+de") == ["en", "de"]
    assert mix_parts("sw") == ["sw"]
    assert vocab.is_mix("en+de") and not vocab.is_mix("en")
    assert model_display_name({"id": "meta-llama/Meta-Llama-3-8B"}) == "Meta-Llama-3-8B"
    assert model_display_name({"id": "random:llama-tiny"}) == "llama-tiny"
    assert model_display_name({"id": "x/y", "label": "Mine"}) == "Mine"
    assert model_display_name({}) == "?"


def test_lists_agree_with_their_users() -> None:
    from langprune.engine.spec.experiment import PruningSpec

    assert set(vocab.FINAL_STATES) < set(vocab.STATES)
    assert vocab.STAGES[0] == "load" and vocab.STAGES[-1] == "done"
    methods = PruningSpec.model_fields["methods"].annotation.__args__[0].__args__
    assert tuple(methods) == vocab.METHODS


@pytest.mark.parametrize("module", ["langprune/vocab.py", "langprune/errors.py"])
def test_shared_modules_import_nothing_of_ours(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + [
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    ]
    assert not [m for m in imported if m.startswith("langprune")], imported


def test_no_second_sparsity_parser_survives() -> None:
    """The N:M split and the percentage rule are written only in vocab.py."""
    offenders = []
    for folder in ("engine", "store", "tui", "langprune"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "vocab.py":
                continue
            text = path.read_text(encoding="utf-8")
            for needle in ('sparsity.split(":")', "def parse_sparsity", "class Pattern", '"%")'):
                if needle in text:
                    offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert not offenders
