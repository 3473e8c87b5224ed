"""swarm_state: one view of the swarm from what each host's engine said of itself (preflight's read: `docker info`'s
Swarm as JSON, and on a manager `docker node ls` as JSON lines, in the engine's own field names)."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.swarmforge.swarm.plugins.filter.swarm import swarm_state


def read(state, node_id="", manager=False, cluster_id=None, autolock=False, nodes=None, no_leader=False,
         certificate="") -> dict:
    """A registered result of the read, as the shell task gives it."""
    swarm = {"NodeID": node_id, "NodeAddr": "", "LocalNodeState": state, "ControlAvailable": manager, "Error": "",
             "RemoteManagers": None}
    if cluster_id:  # managers only: a worker's engine does not describe the cluster
        swarm["Cluster"] = {"ID": cluster_id, "Spec": {"EncryptionConfig": {"AutoLockManagers": autolock}}}
    lines = [json.dumps(swarm)] + [json.dumps(node) for node in nodes or []] + (["NO-LEADER"] if no_leader else [])
    lines += certificate.splitlines()  # a worker's: the read prints its node certificate
    return {"changed": False, "rc": 0, "stdout": "\n".join(lines), "stderr": ""}


def node(node_id, status="", hostname=None) -> dict:
    return {"ID": node_id, "Hostname": hostname or f"engine-name-of-{node_id}", "ManagerStatus": status,
            "Status": "Ready", "Availability": "Active", "Self": False}


LISTED = [node("n1", "Reachable"), node("n2", "Leader"), node("n3")]


def test_a_running_swarm_its_members_roles_and_leader_by_inventory_host() -> None:
    hostvars = {
        "m1": {"probe": read("active", "n1", True, "c1", nodes=LISTED)},
        "m2": {"probe": read("active", "n2", True, "c1", nodes=LISTED)},
        "w1": {"probe": read("active", "n3")},
    }
    view = swarm_state(["m1", "m2", "w1"], hostvars, "probe")
    assert view["cluster_id"] == "c1" and view["cluster_ids"] == ["c1"]
    assert view["managers"] == ["m1", "m2"] and view["workers"] == ["w1"]
    # The leader is named by the host the inventory calls it, through its NodeID, not by the engine's hostname.
    assert view["leader"] == "m2" and view["hosts"]["m2"]["leader"] and not view["hosts"]["m1"]["leader"]
    assert view["hosts"]["w1"] == {"state": "active", "role": "worker", "node_id": "n3", "cluster_id": None,
                                   "leader": False}
    assert not view["autolock"] and view["locked"] == view["pending"] == view["no_engine"] == view["quorum_lost"] == []


def test_hosts_outside_any_swarm_without_an_engine_skipped_or_unreachable() -> None:
    hostvars = {
        "new": {"probe": read("inactive")},
        "bare": {"probe": {"rc": 127, "stdout": "", "stderr": "/bin/sh: 1: docker: not found"}},
        "stopped": {"probe": {"rc": 1, "stdout": "", "stderr": "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."}},
        "storage": {"probe": {"skipped": True, "changed": False}},
        "down": {"probe": {"unreachable": True, "msg": "timed out"}},
        "never": {},
    }
    view = swarm_state(["new", "bare", "stopped", "storage", "down", "never"], hostvars, "probe")
    assert list(view["hosts"]) == ["new", "bare", "stopped"]
    assert view["hosts"]["new"] == {"state": "inactive", "role": None, "node_id": None, "cluster_id": None,
                                    "leader": False}
    assert view["no_engine"] == ["bare", "stopped"] and "docker: not found" in view["hosts"]["bare"]["error"]
    assert view["hosts"]["stopped"]["state"] == "no engine"
    assert view["cluster_id"] == "" and view["cluster_ids"] == [] and view["leader"] == ""
    assert view["managers"] == view["workers"] == []


def test_locked_pending_quorum_lost_and_autolock() -> None:
    hostvars = {
        "m1": {"probe": read("active", "n1", True, "c1", autolock=True, nodes=LISTED)},
        "m2": {"probe": read("locked")},
        "m3": {"probe": read("active", "n9", True, "c1", autolock=True, no_leader=True)},
        "w1": {"probe": read("pending", "n3")},
    }
    view = swarm_state(["m1", "m2", "m3", "w1"], hostvars, "probe")
    assert view["locked"] == ["m2"] and view["pending"] == ["w1"] and view["quorum_lost"] == ["m3"]
    assert view["autolock"] and view["managers"] == ["m1", "m3"]
    assert view["hosts"]["m2"]["role"] is None and view["hosts"]["w1"]["role"] is None
    # The leader the answering manager names is n2, which no host of this run is: no leader among them.
    assert view["leader"] == ""


def test_two_swarms_among_the_hosts_are_both_listed_and_none_is_the_one() -> None:
    hostvars = {"m1": {"probe": read("active", "n1", True, "c1")}, "m2": {"probe": read("active", "x1", True, "c2")}}
    view = swarm_state(["m1", "m2"], hostvars, "probe")
    assert view["cluster_ids"] == ["c1", "c2"] and view["cluster_id"] == ""


def test_hosts_outside_the_play_read_through_a_delegated_loop() -> None:
    hostvars = {"m2": {"probe": read("inactive")}}
    others = {"changed": False, "results": [
        {"item": "m1", **read("active", "n2", True, "c1", nodes=LISTED)},
        {"item": "m3", "unreachable": True, "msg": "timed out"},
    ]}
    view = swarm_state(["m2"], hostvars, "probe", others)
    assert list(view["hosts"]) == ["m2", "m1"] and view["managers"] == ["m1"] and view["leader"] == "m1"
    # A loop that did not run (no host outside the play) adds nothing.
    skipped = {"changed": False, "skipped": True, "results": []}
    assert list(swarm_state(["m2"], hostvars, "probe", skipped)["hosts"]) == ["m2"]
    assert list(swarm_state(["m2"], hostvars, "probe", {"skipped": True, "skip_reason": "false"})["hosts"]) == ["m2"]


def test_an_answer_that_is_not_the_reads_output_is_an_error_not_a_guess() -> None:
    hostvars = {"m1": {"probe": {"rc": 0, "stdout": "Swarm: active", "stderr": ""}}}
    with pytest.raises(AnsibleFilterError, match="not what the read prints"):
        swarm_state(["m1"], hostvars, "probe")


def test_a_workers_cluster_id_comes_from_its_node_certificate(swarm_node_pem) -> None:
    # m2 is a worker of another swarm: only its certificate says which, and that is split brain for the swarm role.
    hostvars = {
        "m1": {"probe": read("active", "n1", True, "c1", nodes=[node("n1", "Leader")])},
        "m2": {"probe": read("active", "x9", certificate=swarm_node_pem("swarm-worker", "other", "x9"))},
        "w1": {"probe": read("active", "n3", certificate=swarm_node_pem("swarm-worker", "c1", "n3"))},
        "w2": {"probe": read("active", "n4", certificate="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")},
    }
    view = swarm_state(["m1", "m2", "w1", "w2"], hostvars, "probe")
    assert view["hosts"]["m2"] == {"state": "active", "role": "worker", "node_id": "x9", "cluster_id": "other",
                                   "leader": False}
    assert view["hosts"]["w1"]["cluster_id"] == "c1" and view["hosts"]["w2"]["cluster_id"] is None
    assert view["cluster_ids"] == ["c1", "other"] and view["cluster_id"] == ""
    assert view["workers"] == ["m2", "w1", "w2"] and view["leader"] == "m1"
