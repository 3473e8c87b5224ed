"""swarm_volume on the host engine: four ways, the option drift Docker ignores, in-use protection."""

from __future__ import annotations

import docker
import pytest
from helpers import run_module

NAME = "sf-it-vol"
NFS = {"server": "192.0.2.10", "path": "/srv/nfs/html", "options": ["rw", "nolock"]}


@pytest.fixture()
def clean(engine: docker.DockerClient):
    def remove() -> None:
        for container in engine.containers.list(all=True, filters={"label": "sf-it"}):
            container.remove(force=True)
        for volume in engine.volumes.list(filters={"name": NAME}):
            if volume.name == NAME:
                volume.remove(force=True)
    remove()
    yield engine
    remove()


def live(engine: docker.DockerClient) -> dict | None:
    try:
        return engine.volumes.get(NAME).attrs
    except docker.errors.NotFound:
        return None


def test_nfs_volume_four_ways(clean: docker.DockerClient) -> None:
    """Only the volume definition: mounting needs an NFS client in the kernel, which the VM lane checks."""
    args = {"name": NAME, "nfs": NFS, "labels": {"app": "web"}}
    check = run_module("swarm_volume", args, check=True)
    assert check["changed"] and live(clean) is None
    apply = run_module("swarm_volume", args)
    assert apply["changed"]
    assert live(clean)["Options"] == {"type": "nfs", "o": "addr=192.0.2.10,nfsvers=4,rw,nolock",
                                      "device": ":/srv/nfs/html"}
    for again in (run_module("swarm_volume", args), run_module("swarm_volume", args, check=True)):
        assert not again["changed"] and again["diff"]["before"] == again["diff"]["after"]


def test_option_drift_docker_would_ignore_is_reported(clean: docker.DockerClient) -> None:
    run_module("swarm_volume", {"name": NAME, "nfs": NFS})
    refused = run_module("swarm_volume", {"name": NAME, "nfs": dict(NFS, server="192.0.2.11")})
    assert refused.get("failed")
    assert refused["msg"] == (f"volume {NAME} differs from what is asked (options: "
                              "{'o': 'addr=192.0.2.10,nfsvers=4,rw,nolock'} -> {'o': 'addr=192.0.2.11,nfsvers=4,rw,"
                              "nolock'}); Docker would silently keep the old options. Set recreate=when_unused to "
                              "replace it while no container uses it")
    replaced = run_module("swarm_volume", {"name": NAME, "nfs": dict(NFS, server="192.0.2.11"),
                                           "recreate": "when_unused"})
    assert replaced["changed"] and live(clean)["Options"]["o"].startswith("addr=192.0.2.11,")


def test_a_volume_in_use_is_kept(clean: docker.DockerClient) -> None:
    run_module("swarm_volume", {"name": NAME, "driver_options": {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}})
    clean.containers.create("swarmforge/busybox:1.35", ["sleep", "60"], name="sf-it-volume-user",
                            labels={"sf-it": "1"}, volumes={NAME: {"bind": "/data", "mode": "rw"}})
    refused = run_module("swarm_volume", {"name": NAME, "driver_options": {"type": "tmpfs", "device": "tmpfs",
                                                                           "o": "size=2m"}, "recreate": "when_unused"})
    assert refused.get("failed") and refused["used_by"] == ["sf-it-volume-user"]
    absent = run_module("swarm_volume", {"name": NAME, "state": "absent"})
    assert absent.get("failed") and "used by containers sf-it-volume-user" in absent["msg"]
    assert live(clean)["Options"]["o"] == "size=1m"


def test_nfs_and_driver_options_exclude_each_other(clean: docker.DockerClient) -> None:
    result = run_module("swarm_volume", {"name": NAME, "nfs": NFS, "driver_options": {"a": "b"}})
    assert result.get("failed") and "parameters are mutually exclusive: nfs|driver_options" in result["msg"]
