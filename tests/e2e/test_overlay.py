"""The overlay network carries traffic between tasks on different nodes (VXLAN; DNS discovery with tasks.<name>)."""

from __future__ import annotations

import json


def test_overlay_network_is_present_as_declared(cluster) -> None:
    network = cluster.docker_json("manager1", "docker network inspect swarmforge_web")[0]
    assert network["Driver"] == "overlay" and network["Scope"] == "swarm" and network["Attachable"] is True
    assert network["IPAM"]["Config"][0]["Subnet"] == "10.201.0.0/24"
    assert network["Labels"] == {"io.swarmforge.stack": "web"}


def test_tasks_on_different_nodes_talk_across_the_overlay(cluster) -> None:
    manager = cluster.host("manager1")
    # dnsrr: service VIPs need IPVS, which the container lab's kernel may lack; DNS round-robin does not.
    created = manager.run(
        "docker service create -d --name sf-echo --network swarmforge_web --endpoint-mode dnsrr --replicas 3 "
        "--replicas-max-per-node 1 swarmforge/busybox:1.35 "
        "sh -c 'hostname > /www/index.html; exec httpd -f -p 8080 -h /www'")
    assert created.rc == 0, created.stderr
    try:
        cluster.wait(lambda: manager.run("docker service ls --filter name=sf-echo --format '{{.Replicas}}'")
                     .stdout.startswith("3/3"), "3 echo tasks run", timeout=120)  # "3/3 (max 1 per node)"
        tasks = [json.loads(line) for line in manager.run(
            "docker service ps sf-echo --filter desired-state=running --format '{{json .}}'").stdout.splitlines()]
        nodes = sorted({task["Node"] for task in tasks})
        assert len(nodes) == 3, f"one task per node expected, got {nodes}"
        client_node = nodes[0]  # the other two answers must cross the overlay to reach it
        client = cluster.host(client_node)
        container = client.run("docker ps -q --filter label=com.docker.swarm.service.name=sf-echo").stdout.split()[0]
        lookup = client.run(f"docker exec {container} nslookup tasks.sf-echo")
        addresses = sorted({line.split()[-1] for line in lookup.stdout.splitlines()
                            if line.startswith("Address") and "10.201.0." in line})
        assert len(addresses) == 3, lookup.stdout
        answers = {}
        for address in addresses:
            # busybox wget segfaults with -T (and -q): bound it with the node's timeout instead.
            fetched = client.run(f"timeout 10 docker exec {container} wget -O- http://{address}:8080/")
            assert fetched.rc == 0, f"{address}: {fetched.stderr}"
            answers[address] = fetched.stdout.strip()
        # Each task answers with its hostname, the short ID of its container: map it back to the node it runs on.
        placement = dict(line.split() for line in manager.run(
            "docker inspect --format '{{.Status.ContainerStatus.ContainerID}} {{.NodeID}}' "
            "$(docker service ps -q --filter desired-state=running sf-echo)").stdout.splitlines())
        answered_from = {next(node for container_id, node in placement.items() if container_id.startswith(name))
                         for name in answers.values()}
        assert len(answered_from) == 3, f"answers {answers} came from nodes {answered_from}"
    finally:
        manager.run("docker service rm sf-echo")
