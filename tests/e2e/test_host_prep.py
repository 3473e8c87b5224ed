"""host_prep on the lab: hosts block, member-only swarm ports, SSH kept open, chrony synced to the lab's server; every
run as a sudoer through become."""

from __future__ import annotations

import re

import paramiko
import pytest
import testinfra

from lab.spec import LAB_USER


def test_hosts_block_lists_every_node(cluster) -> None:
    content = cluster.host("worker1").file("/etc/hosts").content_string
    block = content.split("# BEGIN swarmforge cluster nodes\n")[1].split("# END swarmforge cluster nodes")[0]
    expected = {f"{n.address} {n.name}.lab.swarmforge.test {n.name}" for n in cluster.spec.nodes}
    assert set(block.strip().splitlines()) == expected


def test_swarm_ports_answer_members_only_and_ssh_stays_open(cluster) -> None:
    manager = next(n for n in cluster.spec.nodes if n.name == "manager1")
    probe = f"timeout 3 bash -c '</dev/tcp/{manager.address}/2377' && echo open || echo closed"
    assert cluster.host("worker1").run(probe).stdout.strip() == "open"
    assert cluster.host("storage1").run(probe).stdout.strip() == "closed", "storage1 is not a swarm member"
    ssh = f"timeout 3 bash -c '</dev/tcp/{manager.address}/22' && echo open || echo closed"
    assert cluster.host("storage1").run(ssh).stdout.strip() == "open"
    table = cluster.host("manager1").run("nft list table inet swarmforge")
    assert table.rc == 0 and "tcp dport 2377 ip saddr != @members4 drop" in table.stdout
    assert "table ip filter" in cluster.host("manager1").run("nft list tables").stdout, "Docker's chains remain"


def test_firewall_reload_keeps_container_networking(cluster) -> None:
    manager = cluster.host("manager1")
    assert manager.run("systemctl reload swarmforge-firewall").rc == 0
    assert manager.run("nft list table ip nat").rc == 0
    assert manager.run("docker service ls --filter name=web_web --format '{{.Replicas}}'").stdout.strip() == "3/3"


def test_chrony_follows_the_lab_time_server(cluster) -> None:
    first_manager = next(n for n in cluster.spec.nodes if n.name == "manager1")
    for node in ("manager2", "worker1", "storage1"):
        host = cluster.host(node)
        assert host.service("chrony").is_running and host.service("chrony").is_enabled
        fields = host.run("chronyc -c tracking").stdout.split(",")
        assert fields[1] == first_manager.address, f"{node} follows {fields[1]}"
        assert abs(float(fields[4])) < 1.0


def test_nfs_client_is_installed(cluster) -> None:
    assert cluster.host("worker2").package("nfs-common").is_installed


def test_the_converge_went_through_a_sudoer_and_root_has_no_ssh_login(cluster) -> None:
    """The lab is reached as an operator's hosts are: an unprivileged user with sudo. Root's SSH login is refused, the
    user itself is not root, and each node's sudo log shows that user starting the runs' Python as root."""
    node = next(n for n in cluster.spec.nodes if n.name == "worker1")
    address, port = cluster.spec.ssh_endpoint(node)
    key = paramiko.Ed25519Key.from_private_key_file(str(cluster.spec.key_path))
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        with pytest.raises(paramiko.AuthenticationException):
            client.connect(address, port=port, username="root", pkey=key, timeout=10, allow_agent=False,
                           look_for_keys=False)
    finally:
        client.close()
    unprivileged = testinfra.get_host(f"paramiko://{LAB_USER}@{address}:{port}",
                                      ssh_identity_file=str(cluster.spec.key_path))
    assert unprivileged.run("id -u").stdout.strip() != "0"
    for name in ("manager1", "worker1", "storage1"):
        log = cluster.host(name).run("journalctl _COMM=sudo --no-pager -o cat").stdout
        assert re.search(rf"^ *{LAB_USER} : .*USER=root ; COMMAND=(/usr/bin/python3|/bin/sh -c echo BECOME-SUCCESS)",
                         log, re.MULTILINE), f"{name}: no run went through sudo:\n{log[-2000:]}"
