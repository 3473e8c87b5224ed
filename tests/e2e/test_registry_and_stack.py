"""The lab's registry serves the images; the web stack converged, spread over nodes, and answers through haproxy."""

from __future__ import annotations

import json
import urllib.request


def registry_address(cluster) -> str:
    storage = next(node for node in cluster.spec.nodes if node.role == "storage")
    return f"{storage.address}:5000"


def test_registry_serves_the_lab_images(cluster) -> None:
    manager = cluster.host("manager1")
    catalog = json.loads(manager.run(f"curl -s http://{registry_address(cluster)}/v2/_catalog").stdout)
    assert {"swarmforge/web", "swarmforge/haproxy"} <= set(catalog["repositories"])
    tags = json.loads(manager.run(f"curl -s http://{registry_address(cluster)}/v2/swarmforge/web/tags/list").stdout)
    assert sorted(tags["tags"]) == ["v1", "v2"]
    daemon = json.loads(manager.file("/etc/docker/daemon.json").content_string)
    assert daemon["insecure-registries"] == [registry_address(cluster)]
    pulled = cluster.host("worker2").run(f"docker pull -q {registry_address(cluster)}/swarmforge/web:v2")
    assert pulled.rc == 0, pulled.stderr


def web_services(cluster) -> dict[str, dict]:
    return {s["Name"]: s for s in cluster.docker_json("manager1", "docker service ls --format '{{json .}}'")
            if s["Name"].startswith("web_")}


def test_web_stack_converged_with_replicas_spread(cluster) -> None:
    services = web_services(cluster)
    assert services["web_web"]["Replicas"] == "3/3" and services["web_lb"]["Replicas"] == "1/1"
    assert services["web_web"]["Image"] == f"{registry_address(cluster)}/swarmforge/web:v1"
    nodes = cluster.host("manager1").run(
        "docker service ps web_web --filter desired-state=running --format '{{.Node}}'").stdout.split()
    assert len(nodes) == 3 and len(set(nodes)) >= 2, f"replicas should spread over nodes: {nodes}"


def test_application_answers_through_its_published_port(cluster) -> None:
    """Host-mode publishing on the node that runs haproxy (this kernel has no IPVS for the routing mesh)."""
    lb_node = cluster.host("manager1").run(
        "docker service ps web_lb --filter desired-state=running --format '{{.Node}}'").stdout.split()[0]
    address = next(node.address for node in cluster.spec.nodes if node.name == lb_node)
    answers = []
    for _ in range(9):
        with urllib.request.urlopen(f"http://{address}:8080/", timeout=5) as response:
            answers.append(response.read().decode().strip())
    assert all(answer.startswith("swarmforge web v1 from ") for answer in answers), answers
    assert len(set(answers)) == 3, f"haproxy should reach all three web tasks: {sorted(set(answers))}"


def test_haproxy_config_is_a_versioned_swarm_config(cluster) -> None:
    configs = cluster.host("manager1").run("docker config ls --format '{{.Name}}'").stdout.split()
    assert "web_haproxy_v1" in configs
