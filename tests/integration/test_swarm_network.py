"""swarm_network on the host engine's single-node swarm: four ways, drift refused or replaced, in-use protection."""

from __future__ import annotations

import time

import docker
import pytest
from helpers import run_module

NAME = "sf-it-net"


@pytest.fixture()
def clean(swarm: docker.DockerClient):
    def remove() -> None:
        for service in swarm.services.list(filters={"name": "sf-it-"}):
            service.remove()
        deadline = time.monotonic() + 30
        while live(swarm) is not None:
            try:  # a just-removed service may hold the network for a moment
                swarm.networks.get(live(swarm)["Id"]).remove()
            except docker.errors.APIError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
    remove()
    yield swarm
    remove()


def live(engine: docker.DockerClient) -> dict | None:
    found = [n for n in engine.networks.list(names=[NAME]) if n.name == NAME]
    if not found:
        return None
    try:
        return engine.networks.get(found[0].id).attrs
    except docker.errors.APIError:  # listed, then removed before the inspect
        return None


def test_create_four_ways(clean: docker.DockerClient) -> None:
    args = {"name": NAME, "subnet": "10.231.0.0/24", "attachable": True, "labels": {"app": "it"}}
    check = run_module("swarm_network", args, check=True)
    assert check["changed"] and check["actions"] == [f"create {NAME}"] and live(clean) is None
    assert check["diff"]["before"] == {} and check["diff"]["after"]["subnet"] == "10.231.0.0/24"
    apply = run_module("swarm_network", args)
    assert apply["changed"] and apply["network"]["attachable"] and apply["network"]["driver"] == "overlay"
    attrs = live(clean)
    assert attrs["IPAM"]["Config"][0]["Subnet"] == "10.231.0.0/24" and attrs["Labels"] == {"app": "it"}
    for again in (run_module("swarm_network", args), run_module("swarm_network", args, check=True)):
        assert not again["changed"] and again["differences"] == []
        assert again["diff"]["before"] == again["diff"]["after"]


def test_drift_fails_with_the_differences_then_is_replaced_when_unused(clean: docker.DockerClient) -> None:
    run_module("swarm_network", {"name": NAME, "subnet": "10.231.0.0/24"})
    old_id = live(clean)["Id"]
    refused = run_module("swarm_network", {"name": NAME, "subnet": "10.232.0.0/24"})
    assert refused.get("failed")
    assert refused["msg"] == (f"network {NAME} differs from what is asked (subnet: 10.231.0.0/24 -> 10.232.0.0/24). "
                              "Docker cannot change a network in place: set recreate=when_unused to replace it "
                              "while no service uses it")
    assert live(clean)["Id"] == old_id
    check = run_module("swarm_network", {"name": NAME, "subnet": "10.232.0.0/24", "recreate": "when_unused"},
                       check=True)
    assert check["changed"] and live(clean)["Id"] == old_id
    replaced = run_module("swarm_network", {"name": NAME, "subnet": "10.232.0.0/24", "recreate": "when_unused"})
    assert replaced["changed"] and replaced["actions"] == [f"remove {NAME}", f"create {NAME}"]
    assert live(clean)["IPAM"]["Config"][0]["Subnet"] == "10.232.0.0/24"


def test_a_network_in_use_is_never_recreated_or_removed(clean: docker.DockerClient) -> None:
    run_module("swarm_network", {"name": NAME, "subnet": "10.231.0.0/24"})
    clean.services.create("swarmforge/busybox:1.35", ["sleep", "600"], name="sf-it-user", networks=[NAME])
    refused = run_module("swarm_network", {"name": NAME, "subnet": "10.233.0.0/24", "recreate": "when_unused"})
    assert refused.get("failed") and refused["used_by"] == ["sf-it-user"]
    assert "but is used by services sf-it-user: remove them first" in refused["msg"]
    absent = run_module("swarm_network", {"name": NAME, "state": "absent"})
    assert absent.get("failed") and "is used by services sf-it-user" in absent["msg"]
    assert live(clean) is not None


def test_absent_four_ways(clean: docker.DockerClient) -> None:
    run_module("swarm_network", {"name": NAME})
    args = {"name": NAME, "state": "absent"}
    assert run_module("swarm_network", args, check=True)["changed"] and live(clean) is not None
    assert run_module("swarm_network", args)["changed"] and live(clean) is None
    assert not run_module("swarm_network", args)["changed"]
    assert not run_module("swarm_network", args, check=True)["changed"]


def test_gateway_without_subnet_is_refused(clean: docker.DockerClient) -> None:
    result = run_module("swarm_network", {"name": NAME, "gateway": "10.1.0.1"})
    assert result.get("failed") and result["msg"] == "gateway and ip_range need subnet: give the subnet they belong to"
