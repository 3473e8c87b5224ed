"""What only a real kernel shows, on the VM lab after site.yml: the ingress routing mesh, service VIPs balancing over
tasks, NFS-backed volumes mounted by tasks on other nodes, and their data surviving every task being replaced.

The checks the container lane skips for want of kernel features (tests/e2e/test_nfs_and_volumes.py) run here.
Published ports are reached through the loopback ports qemu forwards to each VM (LabSpec.published_endpoint).
"""

from __future__ import annotations

import json
import urllib.request
import uuid

from helpers import recap
from vm.conftest import lane_playbook

WEB_PORT = 8080  # the web stack's haproxy
PROBE_PORT = 8082  # a test service of this file (the lane deploys no visualizer)
RERUN_TAGS = ("nfs_server", "swarm_volumes", "swarm_stacks")


def storage(cluster):
    return next(node for node in cluster.spec.nodes if "nfs_servers" in node.groups)


def fetch(cluster, node, port: int, path: str = "/") -> str:
    host, forwarded = cluster.spec.published_endpoint(node, port)
    with urllib.request.urlopen(f"http://{host}:{forwarded}{path}", timeout=15) as response:
        return response.read().decode().strip()


def running_tasks(cluster, service: str) -> list[dict]:
    return [json.loads(line) for line in cluster.host("manager1").run(
        f"docker service ps {service} --filter desired-state=running --format '{{{{json .}}}}'").stdout.splitlines()]


def converged(cluster, service: str, replicas: int) -> bool:
    tasks = running_tasks(cluster, service)
    return len(tasks) == replicas and all(task["CurrentState"].startswith("Running") for task in tasks)


def test_one_manager_and_one_worker_ready_each_advertising_its_lab_address(vm_cluster) -> None:
    nodes = {node["Hostname"]: node for node in vm_cluster.nodes()}
    assert set(nodes) == {"manager1", "worker1"}
    assert {name: node["ManagerStatus"] for name, node in nodes.items()} == {"manager1": "Leader", "worker1": ""}
    assert all(node["Status"] == "Ready" and node["Availability"] == "Active" for node in nodes.values())
    for node in vm_cluster.spec.nodes:
        advertised = vm_cluster.host(node.name).run("docker info --format '{{.Swarm.NodeAddr}}'").stdout.strip()
        assert advertised == node.address


def test_the_kernel_nfs_server_serves_the_exports(vm_cluster) -> None:
    server = vm_cluster.host(storage(vm_cluster).name)
    assert server.run("grep -qw nfsd /proc/filesystems").rc == 0, "a VM's kernel has nfsd"
    assert server.service("nfs-server").is_running and server.service("nfs-server").is_enabled
    assert not server.service("nfs-ganesha").is_running
    served = vm_cluster.host("manager1").run(f"showmount --no-headers -e {storage(vm_cluster).address}").stdout
    assert sorted(line.split()[0] for line in served.splitlines()) == ["/srv/nfs/guestbook-db", "/srv/nfs/web-html"]


def test_nfs_volumes_exist_on_every_swarm_node(vm_cluster) -> None:
    assert "Skipped the NFS-backed volumes" not in vm_cluster.first_converge
    for node in vm_cluster.spec.nodes:
        volume = vm_cluster.docker_json(node.name, "docker volume inspect web_html")[0]
        assert volume["Driver"] == "local"
        assert volume["Options"] == {"type": "nfs", "o": f"addr={storage(vm_cluster).address},nfsvers=4,rw,soft",
                                     "device": ":/srv/nfs/web-html"}


def test_web_tasks_mount_the_nfs_volume_from_the_storage_host(vm_cluster) -> None:
    service = vm_cluster.docker_json("manager1", "docker service inspect web_web")[0]
    mounts = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Mounts"]
    assert [(m["Source"], m["Target"]) for m in mounts] == [("web_html", "/www")]
    tasks = running_tasks(vm_cluster, "web_web")
    assert len(tasks) == 3
    others = {task["Node"] for task in tasks} - {storage(vm_cluster).name}
    assert others, f"a web task should run on a node other than the NFS server: {tasks}"
    for name in others:
        host = vm_cluster.host(name)
        kernel_mounts = host.run("grep ' nfs4 ' /proc/mounts").stdout.splitlines()
        assert any(line.startswith(":/srv/nfs/web-html /var/lib/docker/volumes/web_html/_data nfs4 ")
                   and f"addr={storage(vm_cluster).address}" in line for line in kernel_mounts), (name, kernel_mounts)
    page = vm_cluster.host(storage(vm_cluster).name).file("/srv/nfs/web-html/index.html").content_string
    assert page.startswith("swarmforge web v1 from "), page


def test_routing_mesh_answers_on_every_node(vm_cluster) -> None:
    lb = vm_cluster.docker_json("manager1", "docker service inspect web_lb")[0]
    assert [(p["PublishedPort"], p["PublishMode"]) for p in lb["Endpoint"]["Ports"]] == [(WEB_PORT, "ingress")]
    lb_nodes = {task["Node"] for task in running_tasks(vm_cluster, "web_lb")}
    assert len(lb_nodes) == 1
    without_lb = [node for node in vm_cluster.spec.nodes if node.name not in lb_nodes]
    assert without_lb, "a node without the haproxy task shows the mesh routing the request"
    for node in vm_cluster.spec.nodes:
        answer = fetch(vm_cluster, node, WEB_PORT)
        assert answer.startswith("swarmforge web v1 from "), (node.name, answer)


def test_routing_mesh_and_service_vip_balance_over_the_tasks(vm_cluster) -> None:
    """A service of one task per node (each answers with its own hostname) behind one VIP, published through the
    mesh."""
    manager = vm_cluster.host("manager1")
    image = f"{storage(vm_cluster).address}:5000/swarmforge/web:v1"
    replicas = len(vm_cluster.spec.nodes)
    # --with-registry-auth: the manager's login (site.yml logged every node in) goes with the service, so that the
    # other nodes can pull from the lab's registry, which needs one.
    created = manager.run(f"docker service create -d --with-registry-auth --name sf-vip --network swarmforge_web "
                          f"--replicas {replicas} "
                          f"--replicas-max-per-node 1 --publish published={PROBE_PORT},target=80 {image}")
    assert created.rc == 0, created.stderr
    try:
        vm_cluster.wait(lambda: converged(vm_cluster, "sf-vip", replicas), f"{replicas} sf-vip tasks run", timeout=300,
                        every=5)
        spec = vm_cluster.docker_json("manager1", "docker service inspect sf-vip")[0]
        assert spec["Endpoint"]["Spec"]["Mode"] == "vip"
        network_id = vm_cluster.docker_json("manager1", "docker network inspect swarmforge_web")[0]["Id"]
        vip = next(v["Addr"].split("/")[0] for v in spec["Endpoint"]["VirtualIPs"] if v["NetworkID"] == network_id)

        # Through the routing mesh: any node, round-robin over the tasks.
        node = vm_cluster.spec.nodes[0]
        answers = {fetch(vm_cluster, node, PROBE_PORT).rsplit(" ", 1)[-1] for _ in range(9)}
        assert len(answers) >= 2, f"the mesh should balance over tasks, got {answers}"

        # Inside the overlay: the service name is one VIP, tasks.<name> the task addresses, and requests to
        # the VIP reach more than one task.
        client = vm_cluster.host(running_tasks(vm_cluster, "web_web")[0]["Node"])
        container = client.run("docker ps -q --filter label=com.docker.swarm.service.name=web_web").stdout.split()[0]
        lookup = client.run(f"docker exec {container} nslookup sf-vip").stdout
        assert vip in lookup, lookup
        tasks_lookup = client.run(f"docker exec {container} nslookup tasks.sf-vip").stdout
        addresses = {line.split()[-1] for line in tasks_lookup.splitlines()
                     if line.startswith("Address") and "10.201.0." in line}
        assert len(addresses) == replicas and vip not in addresses, tasks_lookup
        seen = set()
        for _ in range(9):
            # busybox wget segfaults with -T: bound it with the node's timeout instead.
            fetched = client.run(f"timeout 10 docker exec {container} wget -O- http://{vip}/")
            assert fetched.rc == 0, fetched.stderr
            seen.add(fetched.stdout.strip().rsplit(" ", 1)[-1])
        assert len(seen) >= 2, f"the VIP should balance over tasks, got {seen}"
    finally:
        manager.run("docker service rm sf-vip")


def test_data_written_through_the_volume_survives_new_tasks(vm_cluster) -> None:
    """A file one task writes into the NFS volume lands on the storage host, and the tasks that replace every task
    (a forced rolling update, `docker service update --force`: new containers that mount the export anew) serve it
    through the mesh on every node. (A `docker stack rm` and a new deploy did the same in 150 s of emulated CPU; the
    forced update replaces every task in a fraction of that.)"""
    manager = vm_cluster.host("manager1")
    server = vm_cluster.host(storage(vm_cluster).name)
    writer = next(task["Node"] for task in running_tasks(vm_cluster, "web_web")
                  if task["Node"] != storage(vm_cluster).name)
    host = vm_cluster.host(writer)
    container = host.run("docker ps -q --filter label=com.docker.swarm.service.name=web_web").stdout.split()[0]
    token = uuid.uuid4().hex
    name = f"probe-{token[:8]}.html"
    assert host.run(f"docker exec {container} sh -c 'echo {token} > /www/{name}'").rc == 0
    try:
        assert server.file(f"/srv/nfs/web-html/{name}").content_string.strip() == token, "written on the server"
        before = {task["ID"] for task in running_tasks(vm_cluster, "web_web")}
        updated = manager.run("docker service update --force --quiet web_web")
        assert updated.rc == 0, updated.stderr
        assert converged(vm_cluster, "web_web", 3)
        assert not before & {task["ID"] for task in running_tasks(vm_cluster, "web_web")}, "new tasks"

        for node in vm_cluster.spec.nodes:
            assert fetch(vm_cluster, node, WEB_PORT, f"/{name}") == token, node.name
    finally:
        server.run(f"rm -f /srv/nfs/web-html/{name}")


def test_rerun_of_what_a_real_kernel_changes_changes_nothing(vm_cluster) -> None:
    """The rerun after site.yml and the forced update, of the roles whose path differs from the container lane's (the
    kernel NFS server, NFS volumes, ingress publishing with VIPs). Every role's full rerun is asserted there; here a
    full rerun would cost ten minutes of emulated CPU for paths already shown idempotent."""
    again = lane_playbook("site.yml", "--tags", ",".join(RERUN_TAGS))
    assert again.returncode == 0, again.stdout[-4000:]
    hosts = recap(again.stdout)
    assert set(hosts) - {"localhost"} == {node.name for node in vm_cluster.spec.nodes}  # localhost: the inventory check
    assert {host: counts["changed"] for host, counts in hosts.items() if counts["changed"]} == {}
    for tag in RERUN_TAGS:
        assert f"TASK [swarmforge.swarm.{tag} : " in again.stdout, f"the rerun ran no task of {tag}"
