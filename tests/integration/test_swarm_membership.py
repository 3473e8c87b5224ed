"""swarm_membership against the real host engine: four ways per operation, refusals by their message."""

from __future__ import annotations

from collections.abc import Callable

import docker
from helpers import run_module


def four_ways(module: str, args: dict, after_check: Callable[[], None] = lambda: None) -> list[dict]:
    """check mode, apply, apply again, check again; after_check asserts that check mode changed nothing."""
    check = run_module(module, args, check=True)
    after_check()
    return [check, run_module(module, args), run_module(module, args), run_module(module, args, check=True)]


def test_init_four_ways(no_swarm: docker.DockerClient) -> None:
    def still_inactive() -> None:
        assert no_swarm.info()["Swarm"]["LocalNodeState"] == "inactive", "check mode must not init"

    check, apply, again, check_again = four_ways("swarm_membership", {
        "state": "initialized", "advertise_addr": "127.0.0.1", "task_history_limit": 3,
        "default_addr_pool": ["10.77.0.0/16"], "subnet_size": 26}, after_check=still_inactive)
    assert check["changed"] and check["actions"] == ["init"]
    assert check["diff"] == {"before": {"state": "inactive", "role": None, "cluster_id": None},
                             "after": {"state": "active", "role": "manager", "cluster_id": None}}
    assert apply["changed"] and apply["actions"] == ["init"] and apply["role"] == "manager"
    cluster_id = no_swarm.info()["Swarm"]["Cluster"]["ID"]
    assert apply["cluster_id"] == cluster_id
    assert apply["diff"]["after"] == {"state": "active", "role": "manager", "cluster_id": cluster_id}
    spec = no_swarm.swarm.attrs
    assert spec["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 3
    assert spec["DefaultAddrPool"] == ["10.77.0.0/16"] and spec["SubnetSize"] == 26
    for unchanged in (again, check_again):
        assert not unchanged["changed"] and unchanged["actions"] == []
        assert unchanged["diff"]["before"] == unchanged["diff"]["after"]


def test_cluster_setting_update_four_ways(swarm: docker.DockerClient) -> None:
    args = {"state": "initialized", "task_history_limit": 7, "node_cert_expiry": "30d"}
    before = swarm.swarm.attrs["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"]

    def unchanged() -> None:
        swarm.swarm.reload()
        assert swarm.swarm.attrs["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == before

    check, apply, again, check_again = four_ways("swarm_membership", args, after_check=unchanged)
    assert check["changed"] and check["actions"] == ["update settings: node_cert_expiry, task_history_limit"]
    assert check["diff"]["after"]["task_history_limit"] == 7
    assert apply["changed"]
    swarm.swarm.reload()
    spec = swarm.swarm.attrs["Spec"]
    assert spec["Orchestration"]["TaskHistoryRetentionLimit"] == 7
    assert spec["CAConfig"]["NodeCertExpiry"] == 30 * 86400 * 10**9
    assert not again["changed"] and not check_again["changed"]


def test_autolock_returns_the_key_only_when_turned_on(swarm: docker.DockerClient) -> None:
    turned_on = run_module("swarm_membership", {"state": "initialized", "autolock": True})
    assert turned_on["changed"] and len(turned_on["unlock_key"]) > 20
    kept = run_module("swarm_membership", {"state": "initialized", "autolock": True})
    assert not kept["changed"] and "unlock_key" not in kept
    off = run_module("swarm_membership", {"state": "initialized", "autolock": False})
    swarm.swarm.reload()
    assert off["changed"] and not swarm.swarm.attrs["Spec"]["EncryptionConfig"]["AutoLockManagers"]


def test_join_token_is_never_in_the_output(swarm: docker.DockerClient) -> None:
    token = swarm.swarm.attrs["JoinTokens"]["Manager"]
    cluster_id = swarm.info()["Swarm"]["Cluster"]["ID"]
    result = run_module("swarm_membership", {"state": "joined", "role": "manager", "join_addresses": ["127.0.0.1"],
                                             "join_token": token, "cluster_id": cluster_id})
    assert not result["changed"] and not result["role_mismatch"]
    assert token not in result["_raw"]


def test_node_in_another_swarm_is_refused_naming_both(swarm: docker.DockerClient) -> None:
    cluster_id = swarm.info()["Swarm"]["Cluster"]["ID"]
    result = run_module("swarm_membership", {"state": "joined", "join_addresses": ["127.0.0.1"],
                                             "join_token": "SWMTKN-1-x", "cluster_id": "someotherclusterid0000000"})
    assert result.get("failed")
    assert f"already in another swarm (ClusterID {cluster_id}" in result["msg"]
    assert "not in someotherclusterid0000000" in result["msg"] and "force=true" in result["msg"]


def test_role_mismatch_is_reported(swarm: docker.DockerClient) -> None:
    cluster_id = swarm.info()["Swarm"]["Cluster"]["ID"]
    result = run_module("swarm_membership", {"state": "joined", "role": "worker", "join_addresses": ["127.0.0.1"],
                                             "join_token": "SWMTKN-1-x", "cluster_id": cluster_id})
    assert not result["changed"] and result["role_mismatch"] and result["role"] == "manager"


def test_manager_leaves_only_with_force(swarm: docker.DockerClient) -> None:
    refused = run_module("swarm_membership", {"state": "absent"})
    assert refused.get("failed") and "this node is a manager: demote it first" in refused["msg"]
    check = run_module("swarm_membership", {"state": "absent", "force": True}, check=True)
    assert check["changed"] and swarm.info()["Swarm"]["LocalNodeState"] == "active"
    left = run_module("swarm_membership", {"state": "absent", "force": True})
    assert left["changed"] and left["actions"] == ["leave"]
    assert swarm.info()["Swarm"]["LocalNodeState"] == "inactive"
    assert not run_module("swarm_membership", {"state": "absent", "force": True})["changed"]


def test_argument_errors_name_the_fix(free_engine: docker.DockerClient) -> None:
    missing = run_module("swarm_membership", {"state": "joined"})
    assert missing.get("failed") and "state is joined but all of the following are missing: join_addresses, " \
                                      "join_token" in missing["msg"]
    duration = run_module("swarm_membership", {"state": "initialized", "node_cert_expiry": "90 days"}, check=True)
    assert duration.get("failed")
    assert duration["msg"] == "node_cert_expiry '90 days': give a number and a unit, e.g. 90d, 2160h or 30m"
