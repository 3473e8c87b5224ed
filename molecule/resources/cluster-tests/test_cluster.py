"""A whole cluster after site.yml, in whatever topology the scenario's lab has, asked from its first manager: the
managers (one Leader, the others Reachable) and the workers, ready and active, each advertising its lab address; the
NFS exports and the registry served from the host the inventory names; every stack's tasks running and the
applications answering on their published ports. What to expect comes from the lab's own description of its nodes
(.lab/<lab>/state.json), not from a list written here."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path

import pytest
import testinfra

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
sys.path.insert(0, str(PROJECT))

from lab.__main__ import load_spec  # noqa: E402 - after the path is set
from lab.secrets import secret_values  # noqa: E402 - after the path is set

SPEC = load_spec(os.environ["SWARMFORGE_MOLECULE_LAB"])
SWARM = {node.name: node for node in SPEC.nodes if node.role in ("manager", "worker")}
MANAGERS = sorted(name for name, node in SWARM.items() if node.role == "manager")
STORAGE = next(node for node in SPEC.nodes if "nfs_servers" in node.groups)
STACK_PORTS = {"web": 8080, "guestbook": 8081, "visualizer": 8082}


def json_lines(host, command: str) -> list[dict]:
    """`command --format '{{json .}}'`: one JSON object a line (testinfra runs it over SSH itself, as the lab's
    inventory names an OpenSSH connection: no Ansible templating in between)."""
    output = host.check_output(command + " --format '{{json .}}'")
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def storage_host():
    inventory = PROJECT / ".lab" / SPEC.name / "inventory"
    return testinfra.get_host(f"ansible://{STORAGE.name}?ansible_inventory={inventory}")


def test_managers_and_workers_ready_and_active(host) -> None:
    nodes = {node["Hostname"]: node for node in json_lines(host, "docker node ls")}
    assert set(nodes) == set(SWARM), "the swarm has exactly the lab's managers and workers (not the storage host)"
    statuses = {name: node["ManagerStatus"] for name, node in nodes.items()}
    assert list(statuses.values()).count("Leader") == 1, statuses
    assert {name for name, status in statuses.items() if status in ("Leader", "Reachable")} == set(MANAGERS)
    assert all(node["Status"] == "Ready" and node["Availability"] == "Active" for node in nodes.values())
    for name, node in SWARM.items():
        inspected = json.loads(host.check_output(f"docker node inspect {name}"))[0]
        assert inspected["Status"]["Addr"] == node.address, name


# The engine Debian ships with each release the lab builds nodes of (docker.io).
DEBIAN_ENGINES = {"12": "20.10.", "13": "26.1."}


def test_each_node_runs_the_engine_of_its_debian_release(host) -> None:
    """A lab of two releases (managers on one, workers on the other) is one swarm of two engine generations."""
    for name, node in SWARM.items():
        engine = json.loads(host.check_output(f"docker node inspect {name}"))[0]["Description"]["Engine"]
        assert engine["EngineVersion"].startswith(DEBIAN_ENGINES[node.debian]), (name, node.debian, engine)


CHECKER = "/usr/local/libexec/swarmforge/check-daemon-json"


def node_host(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={PROJECT / '.lab' / SPEC.name / 'inventory'}")


def test_each_node_checks_daemon_json_with_what_its_engine_offers() -> None:
    """The node's check before daemon.json is replaced: Docker 26 (Debian 13) validates the whole file itself
    (`dockerd --validate`: unknown keys and wrong types); Docker 20.10 (Debian 12) has no such flag, and the check
    compares the keys with dockerd's own flags."""
    for name, node in SWARM.items():
        target = node_host(name)
        has_validate = "--validate" in target.check_output("dockerd --help")
        assert has_validate == (node.debian == "13"), (name, node.debian)
        unique = uuid.uuid4().hex[:8]
        unknown = target.run(f"f=/tmp/daemon-{unique}.json; echo '{{\"no-such-option\": true}}' > $f; "
                             f"{CHECKER} $f; rc=$?; rm -f $f; exit $rc")
        assert unknown.rc == 1 and "no-such-option" in unknown.stderr, (name, unknown.stderr)
        assert ("unknown daemon option(s) ['no-such-option']" in unknown.stderr) != has_validate, unknown.stderr
        if has_validate:  # a known key of the wrong type: only dockerd's own validation sees it
            typed = target.run(f"f=/tmp/daemon-{unique}.json; echo '{{\"max-concurrent-downloads\": \"three\"}}' "
                               f"> $f; {CHECKER} $f; rc=$?; rm -f $f; exit $rc")
            assert typed.rc == 1 and "daemon.json rejected: " in typed.stderr, (name, typed.stderr)
        good = target.run(f"{CHECKER} /etc/docker/daemon.json --swarm-member")
        assert good.rc == 0, (name, good.stderr)


def test_the_storage_host_serves_the_nfs_exports_and_the_registry(host, storage_host) -> None:
    assert storage_host.service("nfs-ganesha").is_running or storage_host.service("nfs-server").is_running
    # As a client: TLS from the lab CA, which the engines trust, and the lab's registry login.
    registry = f"{STORAGE.address}:5000"
    login = f"swarmforge:{secret_values(SPEC)['registry_password']}"
    catalog = json.loads(host.check_output(
        f"curl -sf --cacert /etc/docker/certs.d/{registry}/ca.crt -u {login} https://{registry}/v2/_catalog"))
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
        for node in SWARM.values():
            fetched = host.run(f"curl -sf --max-time 5 {options} http://{node.address}:{port}{path}")
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
    assert sorted(node["hostname"] for node in state["nodes"]) == sorted(SWARM)
