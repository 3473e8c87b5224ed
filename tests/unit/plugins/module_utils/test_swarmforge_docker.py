from __future__ import annotations

import time

import pytest
from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_certificate import certificate_subject
from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_docker import (
    advice_for,
    normalize_node,
    quorum_after,
    wait_until,
)


def test_a_swarm_certificate_names_its_cluster_role_and_node_the_first_of_the_chain(swarm_node_pem) -> None:
    assert certificate_subject(swarm_node_pem("swarm-worker")) == {
        "O": "l9bch4hrmyepwg1ssnh2bd7ta", "OU": "swarm-worker", "CN": "kqv8oqz6kb1ro9y7hy9wkd4xu"}
    assert certificate_subject(swarm_node_pem("swarm-manager"))["OU"] == "swarm-manager"


@pytest.mark.parametrize("text", ["", "not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"])
def test_what_is_not_a_certificate_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        certificate_subject(text)


def test_wait_until_returns_the_first_true_answer_or_the_last_false_one_at_the_deadline() -> None:
    answers = iter([0, "", "done", "later"])
    assert wait_until(lambda: next(answers), timeout=5, every=0.01) == "done"
    started = time.monotonic()
    assert wait_until(list, timeout=0.2, every=0.05) == []
    assert 0.2 <= time.monotonic() - started < 1.0


def managers(*reachability: str) -> list[dict]:
    return [{"id": f"m{i}", "role": "manager", "manager_reachability": r} for i, r in enumerate(reachability, 1)]


@pytest.mark.parametrize(("nodes", "leaving", "ok", "arithmetic"), [
    (managers("reachable", "reachable", "reachable"), "m1", True,
     "3 managers (3 reachable) -> 2 managers (2 reachable); a majority of 2 is 2"),
    (managers("reachable", "reachable", "unreachable"), "m1", False,
     "3 managers (2 reachable) -> 2 managers (1 reachable); a majority of 2 is 2: quorum would be lost"),
    (managers("reachable", "reachable", "unreachable"), "m3", True,
     "3 managers (2 reachable) -> 2 managers (2 reachable); a majority of 2 is 2"),
    (managers("reachable"), "m1", False,
     "1 managers (1 reachable) -> 0 managers (0 reachable); a majority of 0 is 1: it is the last manager"),
    (managers(*["reachable"] * 5), "m2", True,
     "5 managers (5 reachable) -> 4 managers (4 reachable); a majority of 4 is 3"),
    (managers("reachable", "reachable", "reachable", "unreachable", "unreachable"), "m1", False,
     "5 managers (3 reachable) -> 4 managers (2 reachable); a majority of 4 is 3: quorum would be lost"),
    (managers("reachable") + [{"id": "w1", "role": "worker"}], "w1", True, "the node is not a manager"),
    # After a force-new-cluster the lost managers keep their role but are no Raft members: they do not count.
    (managers("reachable") + [{"id": "old2", "role": "manager", "manager_reachability": None}], "old2", True,
     "the node is not a manager"),
    (managers("reachable", "reachable", "reachable") + [{"id": "old", "role": "manager"}], "m1", True,
     "3 managers (3 reachable) -> 2 managers (2 reachable); a majority of 2 is 2"),
])
def test_quorum_arithmetic(nodes: list[dict], leaving: str, ok: bool, arithmetic: str) -> None:
    assert quorum_after(nodes, leaving) == (ok, arithmetic)


@pytest.mark.parametrize(("message", "advice"), [
    ("This node is not a swarm manager. Use docker swarm init", "run this on a swarm manager"),
    ("rpc error: code = Unavailable desc = x", "see docs/recover.md"),
    ("update out of sequence", "run again"),
])
def test_api_errors_get_advice(message: str, advice: str) -> None:
    assert advice_for(message).startswith(message) and advice in advice_for(message)


def test_unknown_errors_pass_through() -> None:
    assert advice_for("something else") == "something else"


def test_normalize_node_keeps_what_matters() -> None:
    raw = {"ID": "abc", "Version": {"Index": 9},
           "Spec": {"Role": "manager", "Availability": "active", "Labels": {"zone": "a"}},
           "Description": {"Hostname": "manager1", "Engine": {"EngineVersion": "20.10.24"}},
           "Status": {"State": "ready", "Addr": "172.28.88.11"},
           "ManagerStatus": {"Leader": True, "Reachability": "reachable", "Addr": "172.28.88.11:2377"}}
    assert normalize_node(raw) == {
        "id": "abc", "hostname": "manager1", "address": "172.28.88.11", "role": "manager", "availability": "active",
        "state": "ready", "labels": {"zone": "a"}, "leader": True, "manager_reachability": "reachable",
        "manager_addr": "172.28.88.11:2377", "engine_version": "20.10.24", "version": 9}


def test_normalize_worker_without_manager_status() -> None:
    node = normalize_node({"ID": "w", "Spec": {"Role": "worker"}, "Status": {}, "Description": {}})
    assert node["leader"] is False and node["manager_reachability"] is None and node["labels"] == {}
