"""swarm_rotate on the host engine's single-node swarm: tokens and the root CA really change, check mode changes
nothing, and no token or key reaches the output."""

from __future__ import annotations

import docker
from helpers import run_module


def tokens(engine: docker.DockerClient) -> dict[str, str]:
    return engine.api.inspect_swarm()["JoinTokens"]


def test_join_tokens_check_then_rotate(swarm: docker.DockerClient) -> None:
    before = dict(tokens(swarm))
    check = run_module("swarm_rotate", {"join_tokens": ["worker"]}, check=True)
    assert check["changed"] and check["rotated"] == ["worker token"]
    assert check["diff"] == {"before": {"worker token": "current"}, "after": {"worker token": "new"}}
    assert tokens(swarm) == before
    rotated = run_module("swarm_rotate", {"join_tokens": ["worker", "manager"]})
    assert rotated["changed"] and rotated["rotated"] == ["worker token", "manager token"]
    after = tokens(swarm)
    assert after["Worker"] != before["Worker"] and after["Manager"] != before["Manager"]
    for secret in (*before.values(), *after.values()):
        assert secret not in rotated["_raw"]


def test_root_ca_rotation_waits_until_the_node_holds_the_new_root(swarm: docker.DockerClient) -> None:
    old_root = swarm.api.inspect_swarm()["TLSInfo"]["TrustRoot"]
    rotated = run_module("swarm_rotate", {"ca": True, "wait_timeout": 120})
    assert rotated["changed"] and rotated["rotated"] == ["root CA"] and rotated["nodes_pending"] == []
    new_root = swarm.api.inspect_swarm()["TLSInfo"]["TrustRoot"]
    assert new_root != old_root
    assert rotated["diff"]["before"]["trust_root"] != rotated["diff"]["after"]["trust_root"]
    assert rotated["trust_root_fingerprint"] == rotated["diff"]["after"]["trust_root"]
    node = swarm.nodes.list()[0].attrs
    assert node["Description"]["TLSInfo"]["TrustRoot"].strip() == new_root.strip()


def test_unlock_key_without_autolock_names_the_fix(swarm: docker.DockerClient) -> None:
    refused = run_module("swarm_rotate", {"unlock_key": True})
    assert refused.get("failed")
    assert refused["msg"] == ("unlock_key: autolock is off, so there is no unlock key to rotate "
                              "(swarm_membership autolock=true turns it on)")
