"""The tutorials' cluster after site.yml, asked from its only manager: one leader and two workers, ready and active,
each advertising its lab address; the NFS exports served from the manager; every stack's tasks running and the
applications answering on their published ports."""

from __future__ import annotations

import json
import os
import time
import uuid

SUBNET_BASE = os.environ.get("SWARMFORGE_MOLECULE_SUBNET", "172.28.96.0/24").rsplit(".", 1)[0]
ADDRESSES = {"manager1": f"{SUBNET_BASE}.11", "worker1": f"{SUBNET_BASE}.101", "worker2": f"{SUBNET_BASE}.102"}
STACK_PORTS = {"web": 8080, "guestbook": 8081, "visualizer": 8082}


def json_lines(host, command: str) -> list[dict]:
    """`command --format '{{json .}}'`: one JSON object a line. Ansible 2.19 templates the shell module's arguments
    (testinfra runs commands through it here), so the Go template is marked raw."""
    output = host.check_output(command + " --format '{% raw %}{{json .}}{% endraw %}'")
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_one_leader_and_two_workers_ready_and_active(host) -> None:
    nodes = {node["Hostname"]: node for node in json_lines(host, "docker node ls")}
    assert {name: node["ManagerStatus"] for name, node in nodes.items()} == {
        "manager1": "Leader", "worker1": "", "worker2": ""}
    assert all(node["Status"] == "Ready" and node["Availability"] == "Active" for node in nodes.values())
    for name, address in ADDRESSES.items():
        inspected = json.loads(host.check_output(f"docker node inspect {name}"))[0]
        assert inspected["Status"]["Addr"] == address, name


def test_the_manager_serves_the_nfs_exports_and_the_registry(host) -> None:
    assert host.service("nfs-ganesha").is_running or host.service("nfs-server").is_running
    catalog = json.loads(host.check_output("curl -s http://127.0.0.1:5000/v2/_catalog"))
    assert {"swarmforge/web", "swarmforge/haproxy", "swarmforge/pyapp", "swarmforge/mariadb"} <= set(
        catalog["repositories"])


def test_every_stack_runs_all_its_tasks(host) -> None:
    services = json_lines(host, "docker service ls")
    stacks = {service["Name"].split("_", 1)[0] for service in services}
    assert stacks == set(STACK_PORTS)
    for service in services:
        running, desired = service["Replicas"].split(" ")[0].split("/")
        assert running == desired and int(desired) > 0, service


def answer(host, port: int, path: str = "/", options: str = "") -> str:
    """The answer on the port published by a node running the stack's front task (host mode where the kernel has no
    IPVS, the routing mesh where it has): the first node that answers."""
    for _ in range(30):
        for address in ADDRESSES.values():
            fetched = host.run(f"curl -sf --max-time 5 {options} http://{address}:{port}{path}")
            if fetched.rc == 0:
                return fetched.stdout
        time.sleep(2)
    return ""


def test_the_web_tier_answers_through_haproxy(host) -> None:
    assert answer(host, STACK_PORTS["web"]).startswith("swarmforge web v1 from ")


def test_the_guestbook_stores_an_entry_in_its_database(host) -> None:
    text = f"molecule {uuid.uuid4().hex[:8]}"
    assert answer(host, STACK_PORTS["guestbook"], "/", f"-X POST --data-binary '{text}' -o /dev/null") == ""
    entries = json.loads(answer(host, STACK_PORTS["guestbook"], "/entries.json"))
    assert text in [entry["text"] for entry in entries["entries"]]


def test_the_visualizer_lists_the_nodes(host) -> None:
    state = json.loads(answer(host, STACK_PORTS["visualizer"], "/api/state"))
    assert sorted(node["hostname"] for node in state["nodes"]) == sorted(ADDRESSES)
