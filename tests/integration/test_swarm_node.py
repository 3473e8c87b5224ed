"""swarm_node against the real host engine: labels and availability four ways, the quorum guard's arithmetic."""

from __future__ import annotations

import time

import docker
from helpers import run_module

from lab.appimages import BUSYBOX_IMAGE


def live_node(engine: docker.DockerClient) -> dict:
    return engine.nodes.list()[0].attrs


def four_ways(args: dict, unchanged_by_check) -> list[dict]:
    check = run_module("swarm_node", args, check=True)
    unchanged_by_check()
    return [check, run_module("swarm_node", args), run_module("swarm_node", args),
            run_module("swarm_node", args, check=True)]


def test_labels_merge_replace_remove_four_ways(swarm: docker.DockerClient) -> None:
    hostname = live_node(swarm)["Description"]["Hostname"]
    swarm.nodes.list()[0].update(dict(live_node(swarm)["Spec"], Labels={"keep": "me"}))

    def labels_untouched() -> None:
        assert live_node(swarm)["Spec"]["Labels"] == {"keep": "me"}

    check, apply, again, check_again = four_ways({"node": hostname, "labels": {"zone": "a", "tier": 1}},
                                                 labels_untouched)
    assert check["changed"] and check["diff"]["before"]["labels"] == {"keep": "me"}
    assert check["diff"]["after"]["labels"] == {"keep": "me", "zone": "a", "tier": "1"}
    assert apply["changed"] and live_node(swarm)["Spec"]["Labels"] == {"keep": "me", "zone": "a", "tier": "1"}
    assert not again["changed"] and not check_again["changed"]

    node_id = live_node(swarm)["ID"]
    replaced = run_module("swarm_node", {"node": node_id, "labels": {"zone": "b"}, "labels_state": "replace"})
    assert replaced["changed"] and live_node(swarm)["Spec"]["Labels"] == {"zone": "b"}
    removed = run_module("swarm_node", {"node": node_id, "labels_to_remove": ["zone", "absent-key"]})
    assert removed["changed"] and live_node(swarm)["Spec"]["Labels"] == {}
    assert not run_module("swarm_node", {"node": node_id, "labels_to_remove": ["zone"]})["changed"]


def test_availability_four_ways(swarm: docker.DockerClient) -> None:
    hostname = live_node(swarm)["Description"]["Hostname"]

    def still_active() -> None:
        assert live_node(swarm)["Spec"]["Availability"] == "active"

    check, apply, again, check_again = four_ways({"node": hostname, "availability": "pause"}, still_active)
    assert check["changed"] and check["diff"] == {
        "before": {"labels": check["diff"]["before"]["labels"], "availability": "active", "role": "manager"},
        "after": {"labels": check["diff"]["before"]["labels"], "availability": "pause", "role": "manager"}}
    assert apply["changed"] and live_node(swarm)["Spec"]["Availability"] == "pause"
    assert not again["changed"] and not check_again["changed"]
    assert run_module("swarm_node", {"node": hostname, "availability": "active"})["changed"]


def test_drain_waits_until_no_task_runs(swarm: docker.DockerClient) -> None:
    """With one node nothing can move: the drain must time out and name the service still there."""
    hostname = live_node(swarm)["Description"]["Hostname"]
    service = swarm.services.create(BUSYBOX_IMAGE, ["sleep", "600"], name="sf-drain-probe")
    try:
        _wait_running(swarm, service)
        result = run_module("swarm_node", {"node": hostname, "availability": "drain", "wait_timeout": 20})
        # A single node empties when drained (nowhere else to go), so the wait ends with no task left.
        assert not result.get("failed"), result.get("msg")
        assert not [t for t in service.tasks() if t["Status"]["State"] == "running"]
    finally:
        service.remove()
        run_module("swarm_node", {"node": hostname, "availability": "active"})


def test_demoting_the_last_manager_is_refused_with_the_arithmetic(swarm: docker.DockerClient) -> None:
    hostname = live_node(swarm)["Description"]["Hostname"]
    result = run_module("swarm_node", {"node": hostname, "role": "worker"})
    assert result.get("failed")
    assert result["msg"] == (f"refusing to demote {hostname}: 1 managers (1 reachable) -> 0 managers (0 reachable); "
                             "a majority of 0 is 1: it is the last manager. Add or repair managers first "
                             "(docs/remove-node.md)")
    assert live_node(swarm)["Spec"]["Role"] == "manager"


def test_removing_a_live_manager_is_refused(swarm: docker.DockerClient) -> None:
    result = run_module("swarm_node", {"node": live_node(swarm)["ID"], "state": "absent"})
    assert result.get("failed") and "it is the last manager" in result["msg"]


def test_unknown_node_names_the_known_ones(swarm: docker.DockerClient) -> None:
    hostname = live_node(swarm)["Description"]["Hostname"]
    result = run_module("swarm_node", {"node": "no-such-node", "labels": {"a": "b"}})
    assert result.get("failed")
    assert result["msg"] == f"no node no-such-node in this swarm (it has: {hostname}); join it first"


def test_outside_a_swarm_the_advice_is_to_use_a_manager(no_swarm: docker.DockerClient) -> None:
    result = run_module("swarm_node", {"node": "x", "availability": "active"})
    assert result.get("failed")
    assert result["msg"] == ("swarm_node must run on a swarm manager, and this node is not in a swarm "
                             "(delegate the task to a host in swarm_managers)")


def _wait_running(engine: docker.DockerClient, service, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(t["Status"]["State"] == "running" for t in service.tasks()):
            return
        time.sleep(1)
    raise AssertionError(f"service {service.name} did not start: {service.tasks()}")
