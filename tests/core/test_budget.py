"""The resource budget's accounting: admission, assignment, release, and the words of a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlos.core.allocator import Allocator
from mlos.core.budget import Budget, Demand, human_size
from mlos.core.gpus import StaticInventory
from mlos.errors import InsufficientResources, InvalidArgument, StatusCode
from mlos.resource_settings import GpuDevice, PluginDemand

MiB = 2**20


def budget(memory: int = 1024 * MiB, cpus: tuple[int, ...] = (0, 1, 2, 3), gpus: int = 2,
           sharing: bool = False, **demands: PluginDemand) -> Budget:
    inventory = StaticInventory([GpuDevice(i, f"gpu{i}") for i in range(gpus)])
    return Budget(memory, cpus, inventory, gpu_sharing=sharing, plugin_demands=demands)


def test_a_model_that_does_not_fit_is_refused_naming_what_is_short_and_keeps_the_others() -> None:
    b = budget()
    b.set_baseline("onnx", 224 * MiB)
    b.admit_model("a", "1", "onnx", Demand(memory_bytes=600 * MiB), 0)
    with pytest.raises(InsufficientResources) as refused:
        b.admit_model("b", "1", "onnx", Demand(memory_bytes=600 * MiB), 0)
    assert refused.value.code is StatusCode.INSUFFICIENT_RESOURCES
    assert refused.value.message == (
        "model 'b' version '1' does not fit the resource budget: "
        "memory: needs 600 MiB, 200 MiB free of 1 GiB"
    )
    assert list(b.models) == [("a", "1")]
    assert b.memory_granted == 824 * MiB
    b.release_model("a", "1")
    b.admit_model("b", "1", "onnx", Demand(memory_bytes=600 * MiB), 0)
    assert b.memory_free == 200 * MiB


def test_cores_and_gpus_are_checked_too_and_every_shortage_is_named() -> None:
    b = budget(cpus=(0, 1))
    b.admit_model("a", "1", "p", Demand(cpus=1.5), 10)
    with pytest.raises(InsufficientResources) as refused:
        b.admit_model("b", "1", "p", Demand(memory_bytes=2048 * MiB, cpus=1, gpus=1), 0)
    message = refused.value.message
    assert "memory: needs 2 GiB, 1024.0 MiB free of 1 GiB" in message  # 10 bytes are granted
    assert "cpus: needs 1 core, 0.5 free of 2" in message
    assert "gpus: needs 1, plugin 'p' holds 0" in message


def test_an_estimate_is_replaced_by_the_measured_growth_and_a_declaration_is_kept() -> None:
    b = budget()
    b.admit_model("est", "1", "p", Demand(), 300 * MiB)
    b.admit_model("dec", "1", "p", Demand(memory_bytes=100 * MiB), 0)
    assert b.models[("est", "1")].basis == "estimated"
    b.settle_model("est", "1", 12 * MiB)
    b.settle_model("dec", "1", 30 * MiB)
    est, dec = b.models[("est", "1")], b.models[("dec", "1")]
    assert (est.basis, est.memory_bytes, est.used_bytes) == ("measured", 12 * MiB, 12 * MiB)
    assert (dec.basis, dec.memory_bytes, dec.used_bytes) == ("declared", 100 * MiB, 30 * MiB)


def test_a_plugin_going_away_gives_back_its_footprint_and_its_models() -> None:
    b = budget()
    b.set_baseline("p", 50 * MiB)
    b.admit_model("m", "1", "p", Demand(memory_bytes=10 * MiB), 0)
    b.admit_model("n", "1", "q", Demand(memory_bytes=10 * MiB), 0)
    b.plugin_stopped("p")
    assert list(b.models) == [("n", "1")] and b.memory_granted == 10 * MiB


def test_gpus_go_to_one_plugin_each_until_none_is_left() -> None:
    b = budget(**{name: PluginDemand(gpus=1) for name in ("a", "b", "c")})
    first, second = b.assign_plugin("a"), b.assign_plugin("b")
    assert {first.gpus, second.gpus} == {(0,), (1,)}
    with pytest.raises(InsufficientResources) as refused:
        b.assign_plugin("c")
    assert "gpus: needs 1, 0 free of 2 (assigned: 0: a, 1: b)" in refused.value.message
    b.release_plugin(first)
    b.release_plugin(first)  # once only
    assert b.assign_plugin("c").gpus == first.gpus
    assert b.to_proto().gpus_granted == 2


def test_with_sharing_a_gpu_goes_to_the_plugin_with_the_fewest() -> None:
    b = budget(gpus=1, sharing=True, a=PluginDemand(gpus=1), b=PluginDemand(gpus=1))
    assert b.assign_plugin("a").gpus == b.assign_plugin("b").gpus == (0,)
    assert list(b.to_proto().gpus[0].plugins) == ["a", "b"]


def test_dedicated_cpus_never_overlap() -> None:
    b = budget(cpus=(0, 1, 2), a=PluginDemand(cpus=2), b=PluginDemand(cpus=1),
               c=PluginDemand(cpus=1))  # fmt: skip
    a, bb = b.assign_plugin("a"), b.assign_plugin("b")
    assert a.cpus == (0, 1) and bb.cpus == (2,)
    with pytest.raises(InsufficientResources) as refused:
        b.assign_plugin("c")
    assert "cpus: needs 1 dedicated core, 0 free of 3 (dedicated: 0-1: a, 2: b)" in (
        refused.value.message
    )
    assert b.shared_cpus() == () and b.to_proto().cpus_dedicated == "0-2"
    b.release_plugin(a)
    assert b.assign_plugin("c").cpus == (0,)
    assert b.shared_cpus() == (1,)


def test_a_plugin_that_asks_for_nothing_gets_nothing_and_fits_always() -> None:
    b = budget(gpus=0)
    grant = b.assign_plugin("anything")
    assert grant.gpus == () and grant.cpus == ()


@pytest.mark.parametrize(
    "demand",
    [Demand(memory_bytes=-1), Demand(cpus=float("nan")), Demand(cpus=-1.0), Demand(gpus=5000)],
)
def test_impossible_demands_are_invalid_arguments(demand: Demand) -> None:
    with pytest.raises(InvalidArgument):
        demand.check()


def test_sizes_read_well() -> None:
    assert human_size(2**30) == "1 GiB"
    assert human_size(600 * MiB) == "600 MiB"
    assert human_size(1536 * MiB) == "1536 MiB"
    assert human_size(int(200.5 * MiB)) == "200.5 MiB"
    assert human_size(512) == "512 bytes"


def test_versions_beside_and_upgrade_processes_get_what_their_name_is_configured() -> None:
    b = budget(onnx=PluginDemand(gpus=1))
    first, beside = b.assign_plugin("onnx"), b.assign_plugin("onnx@2.0")
    assert {first.gpus, beside.gpus} == {(0,), (1,)}
    with pytest.raises(InsufficientResources):
        b.assign_plugin("onnx@2.0+1")  # an upgrade's process of that version: none left
    assert b.assign_plugin("other").gpus == ()


def test_an_estimate_counts_one_copy_of_the_model_per_instance(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"\0" * (10 * MiB))
    allocator = Allocator(budget(memory=2**40))
    one = allocator.admit("one", "1", "onnx", model, Demand(), "onnx")
    two = allocator.admit("two", "1", "onnx", model, Demand(), "onnx", copies=2)
    assert one.memory_bytes > 10 * MiB and two.memory_bytes == 2 * one.memory_bytes
    declared = allocator.admit("declared", "1", "onnx", model, Demand(memory_bytes=MiB), copies=2)
    assert declared.memory_bytes == MiB  # a declaration is what the model gets, copies or not
