"""host_prep on three nodes, one firewall backend each: member-only swarm ports in the active backend, SSH open,
chrony following manager1, the hosts block, kernel settings where the kernel allows them, the NFS client."""

from __future__ import annotations

import os

import pytest

SUBNET_BASE = os.environ.get("SWARMFORGE_MOLECULE_SUBNET", "172.28.94.0/24").rsplit(".", 1)[0]
MEMBERS = [f"{SUBNET_BASE}.{i}" for i in (11, 12, 13)]
BACKEND = {"manager1": "nftables", "manager2": "ufw", "manager3": "firewalld"}


def name_of(host) -> str:
    return host.check_output("hostname")


def test_ssh_answers_and_the_hosts_block_lists_every_node(host) -> None:
    assert host.run("true").rc == 0
    block = host.file("/etc/hosts").content_string.split("# BEGIN swarmforge cluster nodes\n")[1]
    lines = set(block.split("# END swarmforge cluster nodes")[0].strip().splitlines())
    assert lines == {f"{address} manager{i}.lab.swarmforge.test manager{i}" for i, address in enumerate(MEMBERS, 1)}


def test_swarm_ports_admit_members_only_in_the_active_backend(host) -> None:
    backend = BACKEND[name_of(host)]
    if backend == "nftables":
        members = host.check_output("cat /etc/swarmforge/members.nft")
        assert f"{{ {', '.join(MEMBERS + ['198.51.100.0/24'])} }}" in members
        table = host.check_output("nft list table inet swarmforge")
        assert "tcp dport 2377 ip saddr != @members4 drop" in table and "tcp dport 22 accept" in table
        assert host.service("swarmforge-firewall").is_enabled
    elif backend == "ufw":
        status = host.check_output("ufw status")
        assert "Status: active" in status and "22/tcp" in status
        for source in MEMBERS + ["198.51.100.0/24"]:
            for port in ("2377/tcp", "7946/tcp", "7946/udp", "4789/udp"):
                assert any(line.split()[0] == port and line.split()[-1] == source
                           for line in status.splitlines() if line.strip()), f"{port} from {source}"
    else:
        assert host.service("firewalld").is_running
        zone = host.check_output("firewall-cmd --zone=swarmforge --list-all")
        assert all(source in zone for source in MEMBERS + ["198.51.100.0/24"]), zone
        assert all(port in zone for port in ("2377/tcp", "7946/tcp", "7946/udp", "4789/udp")), zone
        assert "ssh" in host.check_output("firewall-cmd --list-services")


def test_a_non_member_is_refused_and_a_member_admitted(host) -> None:
    """From this node to manager1's cluster port: the member path is open; nothing else listens there yet, so the
    check is that the firewall does not drop the member (a refused connection, not a timeout)."""
    if name_of(host) == "manager1":
        pytest.skip("manager1 is the target of this check")
    probe = host.run(f"timeout 3 bash -c '</dev/tcp/{MEMBERS[0]}/2377'")
    assert probe.rc == 1, "a member reaches manager1:2377 (connection refused by the closed port, not dropped)"


def test_chrony_follows_manager1(host) -> None:
    assert host.service("chrony").is_running and host.service("chrony").is_enabled
    if name_of(host) != "manager1":
        assert host.check_output("chronyc -c tracking").split(",")[1] == MEMBERS[0]


def test_nfs_client_and_ip_forwarding(host) -> None:
    assert host.package("nfs-common").is_installed
    assert host.check_output("sysctl -n net.ipv4.ip_forward") == "1"
