"""Lab nodes as containers: Debian with systemd and sshd, each running its own dockerd (Docker-in-Docker)."""

from __future__ import annotations

import io
import ipaddress
import tarfile
from pathlib import Path

import docker
from docker.errors import APIError, ContainerError, NotFound

from lab import aptproxy, dockerrepo
from lab.backend import NodeStatus
from lab.engine import ensure_engine, log
from lab.image import ensure_image
from lab.spec import CACHE_ROOT, LAB_UID, LAB_USER, LabError, LabSpec, Node

LABEL = "io.swarmforge.lab"
NODE_LABEL = "io.swarmforge.lab.node"
OWNER_LABEL = "io.swarmforge.lab.owner"  # the state folder of the checkout that made it
# Every capability Docker names, less those a sandboxed kernel may not grant (without them systemd, sshd and
# an inner dockerd still run).
CAPABILITIES = (
    "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH",
    "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE",
    "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID",
    "SYSLOG", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE",
    "SYS_RAWIO", "SYS_TIME", "SYS_TTY_CONFIG", "WAKE_ALARM",
)
APT_CACHE_DIR = CACHE_ROOT / "apt"


def container_name(spec: LabSpec, node: Node) -> str:
    return f"{spec.name}-{node.name}"


def network_name(spec: LabSpec) -> str:
    return f"{spec.name}-lab"


def serves_nfs(node: Node) -> bool:
    return node.role == "storage" or "nfs_servers" in node.groups


def volume_name(spec: LabSpec, node: Node) -> str:
    return f"{spec.name}-{node.name}-docker"


def privileged_works(client: docker.DockerClient, image: str) -> bool:
    """Detect, by trying, whether this engine may start privileged containers. The probe is removed whatever happens
    (a container whose start is refused is left behind by run(remove=True))."""
    container = client.containers.create(image, ["true"], privileged=True, entrypoint=[])
    try:
        container.start()
        return container.wait(timeout=60).get("StatusCode") == 0
    except (APIError, ContainerError):
        return False
    finally:
        container.remove(force=True)


def _tar_of(files: dict[str, tuple[str, int]], owner: dict[str, int] | None = None) -> bytes:
    """A tar of these files (path: (content, mode)); those named in `owner` (path: uid and gid) belong to that user,
    the others to root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, (content, mode) in files.items():
            data = content.encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), mode
            info.uid = info.gid = (owner or {}).get(path, 0)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class ContainerBackend:
    name = "containers"

    def __init__(self) -> None:
        self._client: docker.DockerClient | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = ensure_engine()
        return self._client

    # -- up -------------------------------------------------------------------------------------------------
    def up(self, spec: LabSpec, public_key: str) -> None:
        # One image per Debian release the lab's nodes run.
        images = {release: ensure_image(self.client, release) for release in sorted({n.debian for n in spec.nodes})}
        image = next(iter(images.values()))
        self._ensure_network(spec)
        aptproxy.start_daemon(spec.gateway, aptproxy.DEFAULT_PORT, APT_CACHE_DIR,
                              spec.state_dir / "aptproxy.pid", spec.state_dir / "aptproxy.log",
                              served_dir=dockerrepo.repo_root(spec))
        privileged = privileged_works(self.client, image)
        log("node containers run " + ("privileged" if privileged else "with an explicit capability list "
                                      "(privileged is refused by this engine)"))
        wanted = {container_name(spec, node) for node in spec.nodes}
        for container in self._containers(spec):
            if container.name not in wanted:
                log(f"removing {container.name}: the lab spec no longer has it")
                self._remove_node(container)
        for node in spec.nodes:
            self._ensure_node(spec, node, images[node.debian], privileged, public_key)

    def _ensure_network(self, spec: LabSpec) -> None:
        name = network_name(spec)
        try:
            network = self.client.networks.get(name)
        except NotFound:
            network = None
        if network is not None:
            owner = network.attrs.get("Labels", {}).get(OWNER_LABEL)
            if owner and owner != str(spec.state_dir):
                raise LabError(f"lab {spec.name!r} belongs to another checkout ({owner}): remove it from there "
                               f"(python -m lab --name {spec.name} down) or choose another --name")
            configs = network.attrs.get("IPAM", {}).get("Config") or [{}]
            if network.attrs.get("Labels", {}).get(LABEL) != spec.name or configs[0].get("Subnet") != spec.subnet:
                raise LabError(f"a network named {name} exists but is not this lab's (subnet {spec.subnet}); "
                               f"remove it or choose another --name")
            return
        wanted = ipaddress.ip_network(spec.subnet)
        for other in self.client.networks.list():
            for config in other.attrs.get("IPAM", {}).get("Config") or []:
                subnet = config.get("Subnet")
                if subnet and ":" not in subnet and ipaddress.ip_network(subnet).overlaps(wanted):
                    raise LabError(f"--subnet {spec.subnet} overlaps docker network {other.name} ({subnet}); "
                                   f"choose another --subnet")
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=spec.subnet, gateway=spec.gateway)])
        self.client.networks.create(name, driver="bridge", ipam=ipam,
                                    labels={LABEL: spec.name, OWNER_LABEL: str(spec.state_dir)},
                                    options={"com.docker.network.bridge.name": f"sf-{spec.name}"[:15]})
        log(f"created network {name} ({spec.subnet})")

    def _ensure_node(self, spec: LabSpec, node: Node, image: str, privileged: bool, public_key: str) -> None:
        name = container_name(spec, node)
        try:
            container = self.client.containers.get(name)
        except NotFound:
            container = None
        if container is not None and container.image.tags and image not in container.image.tags:
            log(f"{name} runs an older node image; recreating it")
            self._remove_node(container)
            container = None
        if container is not None and serves_nfs(node) and not any(
                mount.get("Destination") == "/srv" for mount in container.attrs.get("Mounts", [])):
            log(f"{name} has no data volume at /srv (made by an older lab); recreating it")
            self._remove_node(container)
            container = None
        if container is None:
            container = self._create_node(spec, node, image, privileged)
            keys = f"/home/{LAB_USER}/.ssh/authorized_keys"
            container.put_archive("/", _tar_of({
                keys: (public_key + "\n", 0o600),
                "/etc/apt/apt.conf.d/01swarmforge-lab-proxy": (
                    f'Acquire::http::Proxy "http://{spec.gateway}:{aptproxy.DEFAULT_PORT}";\n'
                    'Acquire::https::Proxy "DIRECT";\n', 0o644),
                # A container's /proc/sys is read-only: the engine cannot turn IPv6 off on an overlay network's
                # bridge, which Docker 26 (Debian 13) treats as an error unless told to go on. A property of these
                # hosts, not of the roles: set here, before the engine is installed.
                "/etc/systemd/system/docker.service.d/10-swarmforge-lab.conf": (
                    "[Service]\nEnvironment=DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1\n", 0o644),
            }, owner={keys: LAB_UID}))
            log(f"created {name} ({node.role}, {node.address})")
        if container.status != "running":
            container.start()

    def _create_node(self, spec: LabSpec, node: Node, image: str, privileged: bool) -> docker.models.containers.Container:
        api = self.client.api
        volume = volume_name(spec, node)
        self.client.volumes.create(volume, labels={LABEL: spec.name, NODE_LABEL: node.name})
        binds = ["/sys/fs/cgroup:/sys/fs/cgroup:rw", f"{volume}:/var/lib/docker"]
        if serves_nfs(node):
            # The NFS server's data disk (the storage host's, or the manager's that serves NFS when there is none):
            # exports live under /srv, and nfs-ganesha cannot export overlayfs.
            data = f"{spec.name}-{node.name}-srv"
            self.client.volumes.create(data, labels={LABEL: spec.name, NODE_LABEL: node.name})
            binds.append(f"{data}:/srv")
        if Path("/lib/modules").is_dir():
            binds.append("/lib/modules:/lib/modules:ro")
        host_config = api.create_host_config(
            binds=binds,
            privileged=privileged,
            cap_add=None if privileged else list(CAPABILITIES),
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            cgroupns="host",
            tmpfs={"/run": "rw,exec", "/run/lock": "rw", "/tmp": "rw,exec"},
            restart_policy={"Name": "unless-stopped"},
        )
        networking = api.create_networking_config({
            network_name(spec): api.create_endpoint_config(ipv4_address=node.address),
        })
        created = api.create_container(
            image, name=container_name(spec, node), hostname=node.name, detach=True,
            labels={LABEL: spec.name, NODE_LABEL: node.name, f"{LABEL}.role": node.role},
            environment={"container": "docker"}, stop_signal="SIGRTMIN+3",
            host_config=host_config, networking_config=networking,
        )
        return self.client.containers.get(created["Id"])

    # -- down / status ------------------------------------------------------------------------------------
    def _containers(self, spec: LabSpec) -> list[docker.models.containers.Container]:
        return self.client.containers.list(all=True, filters={"label": f"{LABEL}={spec.name}"})

    def _remove_node(self, container: docker.models.containers.Container) -> None:
        container.remove(force=True)
        for volume in self.client.volumes.list(filters={"label": f"{NODE_LABEL}={container.labels.get(NODE_LABEL)}"}):
            if volume.attrs.get("Labels", {}).get(LABEL) == container.labels.get(LABEL):
                volume.remove(force=True)

    def down(self, spec: LabSpec) -> list[str]:
        removed = []
        for container in self._containers(spec):
            container.remove(force=True)
            removed.append(f"container {container.name}")
        for volume in self.client.volumes.list(filters={"label": f"{LABEL}={spec.name}"}):
            volume.remove(force=True)
            removed.append(f"volume {volume.name}")
        aptproxy.stop_daemon(spec.state_dir / "aptproxy.pid")
        for network in self.client.networks.list(filters={"label": f"{LABEL}={spec.name}"}):
            network.remove()
            removed.append(f"network {network.name}")
        return removed

    def status(self, spec: LabSpec) -> list[NodeStatus]:
        live = {c.name: c for c in self._containers(spec)}
        result = []
        for node in spec.nodes:
            container = live.get(container_name(spec, node))
            state = "missing" if container is None else ("running" if container.status == "running" else "stopped")
            result.append(NodeStatus(node.name, node.role, node.address, state))
        return result
