"""Another Docker engine release beside this machine's own, for the module tests: Debian 13's docker.io (Docker 26.1)
running in a container, its API socket on a folder of this machine.

The modules talk to a node's local engine; the integration tests run them on this machine against a real dockerd.
This machine's own engine is the one its Debian ships (Debian 12: Docker 20.10); this one is the other end of the
supported range. It is a plain dockerd in a container made from Debian's packages (no systemd, no SSH: nothing but
the engine), with the same capabilities as the lab's nodes, its data on a volume of its own and no network at all:
the tests reach it through its socket only, and a single-node swarm advertises on its loopback.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import docker
from docker.errors import DockerException, NotFound

from lab.containers import CAPABILITIES, privileged_works
from lab.engine import ensure_engine, log
from lab.image import MIRROR, image_exists, mmdebstrap_import, source_lines
from lab.spec import DEBIAN_SUITES, LabError

IMAGE_REPOSITORY = "swarmforge/engine"
# The engine's packages; tini reaps the engine's orphans as the container's first process.
PACKAGES = ("docker.io", "iptables", "ca-certificates", "tini")
SOCKET_ROOT = Path("/run/swarmforge")
LABEL = "io.swarmforge.engine"


def _command(release: str) -> list[str]:
    """The container's command: dockerd answering on the socket folder shared with this machine, and on its own."""
    return ["/usr/bin/tini", "--", "dockerd", "--host", f"unix:///outer/{socket_path(release).name}",
            "--host", "unix:///var/run/docker.sock"]


def image_name(release: str) -> str:
    """Tagged by its recipe: a change to the packages, the command or the sources builds a new one."""
    suite = DEBIAN_SUITES[release]
    recipe = json.dumps([suite, PACKAGES, _command(release), source_lines(suite)]).replace(MIRROR, "MIRROR")
    return f"{IMAGE_REPOSITORY}:debian{release}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def container_name(release: str) -> str:
    return f"swarmforge-engine-debian{release}"


def socket_path(release: str) -> Path:
    return SOCKET_ROOT / f"engine-debian{release}" / "docker.sock"


def docker_host(release: str) -> str:
    return f"unix://{socket_path(release)}"


def _ensure_image(client: docker.DockerClient, release: str) -> str:
    name = image_name(release)
    if not image_exists(client, name):
        started = time.monotonic()
        log(f"building {name}: Debian {release}'s docker.io (about a minute)")
        mmdebstrap_import(client, name, PACKAGES, [], [f"CMD {json.dumps(_command(release))}"],
                          suite=DEBIAN_SUITES[release])
        log(f"{name} ready in {time.monotonic() - started:.0f}s")
    return name


def _answers(release: str) -> docker.DockerClient | None:
    if not socket_path(release).exists():
        return None
    try:
        client = docker.DockerClient(base_url=docker_host(release), timeout=120)
    except DockerException:  # the SDK asks the engine its API version on construction
        return None
    try:
        client.ping()
        return client
    except DockerException:
        client.close()  # polled every second until it answers: no session left open per poll
        return None


def _host_engine(release: str) -> docker.DockerClient:
    """This machine's engine, which runs the container: never the one DOCKER_HOST names when that is the container's
    own socket (a test session that points its clients at it runs this tool too)."""
    if os.environ.get("DOCKER_HOST") == docker_host(release):
        del os.environ["DOCKER_HOST"]
    return ensure_engine()


def ensure_other_engine(release: str = "13", wait_seconds: int = 90) -> docker.DockerClient:
    """The engine of this Debian release, started (and its image built) when needed; returns a client for it."""
    if release not in DEBIAN_SUITES:
        raise LabError(f"Debian {release}: choose one of {', '.join(DEBIAN_SUITES)}")
    host = _host_engine(release)
    name = container_name(release)
    try:
        container = host.containers.get(name)
    except NotFound:
        container = None
    if container is None:
        image = _ensure_image(host, release)
        socket_path(release).parent.mkdir(parents=True, exist_ok=True)
        privileged = privileged_works(host, image)
        container = host.containers.create(
            image, name=name, hostname=name, detach=True, labels={LABEL: release},
            network_mode="none", privileged=privileged, cap_add=None if privileged else list(CAPABILITIES),
            security_opt=["seccomp=unconfined", "apparmor=unconfined"], cgroupns="host",
            tmpfs={"/run": "rw,exec", "/tmp": "rw,exec"},
            # A container's /proc/sys is read-only: Docker 26 would refuse an overlay network whose bridge it cannot
            # turn IPv6 off on (the lab's nodes set the same).
            environment={"DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE": "1"},
            volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
                     f"{name}-data": {"bind": "/var/lib/docker", "mode": "rw"},
                     str(socket_path(release).parent): {"bind": "/outer", "mode": "rw"}})
        log(f"created {name}")
    if container.status != "running":
        socket_path(release).unlink(missing_ok=True)
        container.start()
    elif not socket_path(release).exists():
        # Running, but its socket is gone from this machine's folder (removed underneath it): a restart makes it again.
        log(f"{name} runs without its socket at {socket_path(release)}: restarting it")
        socket_path(release).parent.mkdir(parents=True, exist_ok=True)
        container.restart(timeout=30)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        client = _answers(release)
        if client is not None:
            return client
        time.sleep(1)
    logs = container.logs(tail=30).decode(errors="replace")
    raise LabError(f"the Debian {release} engine ({name}) did not answer within {wait_seconds}s:\n{logs}")


def remove_other_engine(release: str = "13") -> list[str]:
    """Remove the container and its data volume (the image stays cached)."""
    host = _host_engine(release)
    removed = []
    name = container_name(release)
    try:
        host.containers.get(name).remove(force=True)
        removed.append(f"container {name}")
    except NotFound:
        pass
    deadline = time.monotonic() + 60
    while any(c.name == name for c in host.containers.list(all=True, filters={"name": name})):
        if time.monotonic() > deadline:
            raise LabError(f"{name} is still there a minute after its removal; remove it with docker rm -f {name}")
        time.sleep(1)
    try:
        host.volumes.get(f"{name}-data").remove(force=True)
        removed.append(f"volume {name}-data")
    except NotFound:
        pass
    socket_path(release).unlink(missing_ok=True)
    return removed
