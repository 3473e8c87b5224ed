"""site.yml on the lab: every node prepared, the engine configured, a swarm of 3 managers and 2 workers."""

from __future__ import annotations

import json

from helpers import lab_playbook, recap


def test_second_run_changes_nothing(cluster) -> None:
    """Rerun as the converge ran: the installed collection's site playbook, from the operator's directory."""
    again = cluster.outside.playbook("swarmforge.swarm.site")
    assert again.returncode == 0, again.stdout[-4000:]
    hosts = recap(again.stdout)
    assert set(hosts) >= {node.name for node in cluster.spec.nodes}
    assert {host: counts["changed"] for host, counts in hosts.items() if counts["changed"]} == {}
    assert all(counts["failed"] == 0 and counts["unreachable"] == 0 for counts in hosts.values())
    cluster.noop_rerun = again.stdout


def test_check_mode_on_the_converged_cluster_reports_nothing_to_change(cluster) -> None:
    """--check --diff runs every read-only probe for real: on a converged cluster it exits 0 and changes nothing."""
    checked = lab_playbook(cluster.name, "site.yml", "--check", "--diff")
    assert checked.returncode == 0, checked.stdout[-4000:]
    hosts = recap(checked.stdout)
    assert set(hosts) >= {node.name for node in cluster.spec.nodes}
    assert {host: counts["changed"] for host, counts in hosts.items() if counts["changed"]} == {}
    assert "--- before" not in checked.stdout, "a converged cluster shows no diff"


def test_engine_runs_with_the_lab_daemon_json(cluster) -> None:
    for node in cluster.spec.nodes:
        host = cluster.host(node.name)
        assert host.service("docker").is_running and host.service("docker").is_enabled
        daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
        storage = next(n.address for n in cluster.spec.nodes if n.role == "storage")
        assert daemon == {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}
        ca = host.file(f"/etc/docker/certs.d/{storage}:5000/ca.crt")
        assert ca.content_string == (cluster.spec.state_dir / "pki" / "ca.crt").read_text(), "the engine trusts the lab CA"
        assert host.run("docker info --format '{{.LoggingDriver}}'").stdout.strip() == "json-file"
        assert host.run("python3 -c 'import docker'").rc == 0, "the modules need the SDK on every node"


def test_three_managers_one_leader_two_workers_all_ready_and_active(cluster) -> None:
    nodes = {node["Hostname"]: node for node in cluster.nodes()}
    assert set(nodes) == {"manager1", "manager2", "manager3", "worker1", "worker2"}
    statuses = sorted(node["ManagerStatus"] for node in nodes.values())
    assert statuses == ["", "", "Leader", "Reachable", "Reachable"]
    assert {name for name, node in nodes.items() if node["ManagerStatus"]} == {"manager1", "manager2", "manager3"}
    assert all(node["Status"] == "Ready" and node["Availability"] == "Active" for node in nodes.values())


def test_every_node_advertises_its_inventory_address(cluster) -> None:
    for node in cluster.spec.nodes:
        if node.role == "storage":
            continue
        assert cluster.host(node.name).run("docker info --format '{{.Swarm.NodeAddr}}'").stdout.strip() == node.address


def test_storage_host_has_the_engine_but_is_not_in_the_swarm(cluster) -> None:
    host = cluster.host("storage1")
    assert host.run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "inactive"


def test_node_labels_come_from_the_inventory(cluster) -> None:
    labels = {node["Description"]["Hostname"]: node["Spec"].get("Labels") or {}
              for node in cluster.docker_json("manager1", "docker node inspect $(docker node ls -q)")}
    assert labels["worker1"] == {"swarmforge.db": "true"}, "the first worker carries the database's label"
    assert all(value == {} for name, value in labels.items() if name != "worker1"), labels
