"""The tutorials' second and third applications on the lab: the guestbook on MariaDB with its passwords as swarm
secrets (vault-encrypted in the inventory, read by the containers through *_FILE variables), and the visualizer."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

import yaml
from ansible.constants import DEFAULT_VAULT_ID_MATCH
from ansible.parsing.vault import VaultLib, VaultSecret
from helpers import REPO


def lab_secret(cluster, name: str) -> str:
    """The plain value of one of the lab's vault-encrypted secrets."""
    password = (REPO / ".lab" / cluster.name / "vault-password").read_text(encoding="utf-8").strip().encode()

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))
    document = yaml.load((cluster.inventory / "secrets.yml").read_text(encoding="utf-8"), Loader=Loader)
    encrypted = document["all"]["vars"]["lab_secrets"][name]
    return VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(password))]).decrypt(encrypted).decode()


def running_nodes(cluster, service: str) -> list[str]:
    return cluster.host("manager1").run(
        f"docker service ps {service} --filter desired-state=running --format '{{{{.Node}}}}'").stdout.split()


def address_of(cluster, node: str) -> str:
    return next(n.address for n in cluster.spec.nodes if n.name == node)


def http(url: str, data: bytes | None = None, wait: float = 30) -> tuple[int, str]:
    """A task the swarm reports running may still be starting its server (or restarting after the engine's restart
    in an earlier test): a refused connection is asked again for `wait` seconds, anything else fails at once."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.URLError as error:
            if not isinstance(error.reason, ConnectionRefusedError) or time.monotonic() > deadline:
                raise
        time.sleep(1)


def test_guestbook_services_converged(cluster) -> None:
    services = {s["Name"]: s for s in cluster.docker_json("manager1", "docker service ls --format '{{json .}}'")}
    assert services["guestbook_db"]["Replicas"] == "1/1" and services["guestbook_app"]["Replicas"] == "2/2"
    assert running_nodes(cluster, "guestbook_db") == ["worker1"], "the database follows the swarmforge.db label"
    assert len(set(running_nodes(cluster, "guestbook_app"))) == 2, "app replicas spread over two nodes"


def test_entries_are_stored_in_the_database_and_seen_by_every_app_task(cluster) -> None:
    app_nodes = running_nodes(cluster, "guestbook_app")
    text = f"hello from the e2e suite {uuid.uuid4().hex[:8]}"
    status, _ = http(f"http://{address_of(cluster, app_nodes[0])}:8081/", text.encode())
    assert status == 201
    served_by = set()
    for node in app_nodes:
        status, body = http(f"http://{address_of(cluster, node)}:8081/entries.json")
        entries = json.loads(body)
        assert status == 200 and text in [entry["text"] for entry in entries["entries"]]
        served_by.add(entries["served_by"])
    assert len(served_by) == 2, "both app tasks answered, each from the shared database"


def test_passwords_are_versioned_swarm_secrets_mounted_in_the_database_container(cluster) -> None:
    secrets = cluster.host("manager1").run("docker secret ls --format '{{.Name}}'").stdout.split()
    assert {"guestbook_db_root_password_v1", "guestbook_db_password_v1"} <= set(secrets)
    db_host = cluster.host(running_nodes(cluster, "guestbook_db")[0])
    container = db_host.run("docker ps -q --filter label=com.docker.swarm.service.name=guestbook_db").stdout.split()[0]
    for name in ("db_root_password", "db_password"):
        mounted = db_host.run(f"docker exec {container} cat /run/secrets/{name}")
        assert mounted.rc == 0 and mounted.stdout == lab_secret(cluster, name)
    environment = db_host.run(f"docker inspect --format '{{{{json .Config.Env}}}}' {container}").stdout
    assert "MYSQL_ROOT_PASSWORD_FILE=/run/secrets/db_root_password" in environment
    assert lab_secret(cluster, "db_root_password") not in environment
    login = db_host.run(f"docker exec {container} sh -c "
                        "'mariadb -uroot -p\"$(cat /run/secrets/db_root_password)\" -N -e \"SELECT 1\"'")
    assert login.rc == 0 and login.stdout.strip() == "1", login.stderr


def test_secrets_never_appear_in_ansible_output(cluster) -> None:
    for name in ("db_root_password", "db_password"):
        assert lab_secret(cluster, name) not in cluster.first_converge


def test_visualizer_shows_every_node_and_its_tasks(cluster) -> None:
    node = running_nodes(cluster, "visualizer_visualizer")[0]
    assert node.startswith("manager"), "the visualizer reads a manager's Docker socket"
    status, body = http(f"http://{address_of(cluster, node)}:8082/api/state")
    state = json.loads(body)
    assert status == 200
    nodes = {entry["hostname"]: entry for entry in state["nodes"]}
    assert set(nodes) == {"manager1", "manager2", "manager3", "worker1", "worker2"}
    assert sum(entry["leader"] for entry in nodes.values()) == 1
    web_tasks = [task for entry in nodes.values() for task in entry["tasks"] if task["service"] == "web_web"]
    assert len(web_tasks) == 3
    assert "guestbook_db" in [task["service"] for task in nodes["worker1"]["tasks"]]
    status, page = http(f"http://{address_of(cluster, node)}:8082/")
    assert status == 200 and "<h2>worker1</h2>" in page
