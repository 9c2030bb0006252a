"""GPU slot detection and planning, without processes."""

from __future__ import annotations

import pytest

from langprune.engine.run.slots import Slot, detect_gpus, make_slots, plan_batches, resolve_gpus


def test_detect_gpus_prefers_the_explicit_list() -> None:
    assert detect_gpus({"LANGPRUNE_GPUS": "0,1,3", "CUDA_VISIBLE_DEVICES": "5"}) == ["0", "1", "3"]
    assert detect_gpus({"LANGPRUNE_GPUS": ""}) == []
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []


def test_no_gpu_means_one_cpu_slot_hiding_every_gpu() -> None:
    (slot,) = make_slots([], slots_per_gpu=4)
    assert slot == Slot(None, 0)
    assert slot.env({"CUDA_VISIBLE_DEVICES": "0,1", "LANGPRUNE_GPUS": "0"}) == {
        "CUDA_VISIBLE_DEVICES": ""
    }


def test_slots_per_gpu_and_each_slot_sees_only_its_gpu() -> None:
    slots = make_slots(["0", "3"], slots_per_gpu=2)
    assert [s.name for s in slots] == ["gpu0-0", "gpu0-1", "gpu3-0", "gpu3-1"]
    assert [s.env({})["CUDA_VISIBLE_DEVICES"] for s in slots] == ["0", "0", "3", "3"]


def test_resolve_gpus_checks_the_request() -> None:
    assert resolve_gpus("all", ["0", "1"]) == ["0", "1"]
    assert resolve_gpus("1", ["0", "1"]) == ["1"]
    assert resolve_gpus([0, 1], ["0", "1", "3"]) == ["0", "1"]
    with pytest.raises(ValueError, match="GPU 7 is not available"):
        resolve_gpus("0,7", ["0", "1"])


def test_plan_groups_runs_of_one_model() -> None:
    pending = [("a1", "A"), ("b1", "B"), ("a2", "A"), ("a3", "A"), ("b2", "B")]
    # one slot per model: every run of a model in one worker
    assert plan_batches(pending, 2) == [["a1", "a2", "a3"], ["b1", "b2"]]
    # a single slot takes one model, the other waits for a free slot
    assert plan_batches(pending, 1) == [["a1", "a2", "a3"]]
    # spare slots split a model's runs
    assert plan_batches(pending, 4) == [["a1", "a2"], ["a3"], ["b1"], ["b2"]]
    # never more workers than runs
    assert plan_batches([("a1", "A")], 3) == [["a1"]]
    # a model no worker serves yet comes first
    assert plan_batches(pending, 1, busy_models=["A"]) == [["b1", "b2"]]
