"""The storage host's NFS exports and the NFS-backed swarm volumes.

The exports are checked for real on every kernel: a userspace NFS client (libnfs) on a manager writes through the
export and the file appears on the storage host's disk. Mounting them as swarm volumes needs a kernel NFS client;
where the lab's kernel has none, the tests that need it skip with the reason, and the skip must have been reported
by site.yml itself.
"""

from __future__ import annotations

import uuid

import pytest

EXPORTS = ("/srv/nfs/web-html", "/srv/nfs/guestbook-db")


def storage_address(cluster) -> str:
    return next(node.address for node in cluster.spec.nodes if node.role == "storage")


def kernel_mounts_nfs(cluster) -> bool:
    return cluster.host("manager1").run("grep -qw nfs4 /proc/filesystems || modprobe nfs").rc == 0


def test_storage_host_serves_the_exports(cluster) -> None:
    storage = cluster.host("storage1")
    served = [line.split()[0] for line in cluster.host("manager1").run(
        f"showmount --no-headers -e {storage_address(cluster)}").stdout.splitlines()]
    assert sorted(served) == sorted(EXPORTS)
    kernel_server = storage.run("grep -qw nfsd /proc/filesystems || modprobe nfsd").rc == 0
    service = "nfs-server" if kernel_server else "nfs-ganesha"
    assert storage.service(service).is_running and storage.service(service).is_enabled


def test_data_written_through_the_export_lands_on_the_storage_host(cluster) -> None:
    manager = cluster.host("manager1")
    installed = manager.run("command -v nfs-cp || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnfs-utils")
    assert installed.rc == 0, installed.stderr
    token = uuid.uuid4().hex
    name = f"probe-{token[:8]}.txt"
    assert manager.run(f"echo {token} > /tmp/{name}").rc == 0
    url = f"nfs://{storage_address(cluster)}/srv/nfs/web-html/{name}"
    copied = manager.run(f"timeout 30 nfs-cp /tmp/{name} {url}")
    assert copied.rc == 0, copied.stdout + copied.stderr
    try:
        assert cluster.host("storage1").file(f"/srv/nfs/web-html/{name}").content_string.strip() == token
        assert manager.run(f"timeout 30 nfs-cat {url}").stdout.strip() == token
    finally:
        cluster.host("storage1").run(f"rm -f /srv/nfs/web-html/{name}")


def test_nfs_volumes_exist_on_every_swarm_node_or_the_skip_was_reported(cluster) -> None:
    swarm_nodes = [node for node in cluster.spec.nodes if node.role != "storage"]
    if not kernel_mounts_nfs(cluster):
        assert "Skipped the NFS-backed volumes (web_html, guestbook_db)" in cluster.first_converge
        for node in swarm_nodes:
            assert cluster.host(node.name).run("docker volume inspect web_html").rc != 0
        pytest.skip("this kernel cannot mount NFS (no nfs4 in /proc/filesystems, no nfs module): site.yml skipped "
                    "the NFS volumes and said so; the VM lane mounts them (tests/vm/test_vm_lane.py)")
    for node in swarm_nodes:
        volume = cluster.docker_json(node.name, "docker volume inspect web_html")[0]
        assert volume["Options"] == {"type": "nfs", "o": f"addr={storage_address(cluster)},nfsvers=4,rw,soft",
                                     "device": ":/srv/nfs/web-html"}
        assert volume["Labels"] == {"io.swarmforge.stack": "web"}


def test_web_tasks_share_the_nfs_html_volume(cluster) -> None:
    if not kernel_mounts_nfs(cluster):
        pytest.skip("this kernel cannot mount NFS: the web stack runs without its shared html volume here; the VM "
                    "lane runs this check (tests/vm/test_vm_lane.py)")
    service = cluster.docker_json("manager1", "docker service inspect web_web")[0]
    mounts = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Mounts"]
    assert [(m["Source"], m["Target"]) for m in mounts] == [("web_html", "/www")]
    # The first task seeded the shared page on the server; every task serves that one file.
    page = cluster.host("storage1").file("/srv/nfs/web-html/index.html").content_string
    assert page.startswith("swarmforge web v1 from "), page
