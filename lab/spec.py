"""What a lab is: its name, its nodes and their addresses, and where its state lives."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_ROOT = Path(os.environ.get("SWARMFORGE_LAB_STATE", REPO_ROOT / ".lab"))
# What the labs download or build once (apt packages, application image archives, VM images), kept per machine rather
# than per checkout, so a fresh clone (CI's) reuses them.
CACHE_ROOT = Path(os.environ.get("SWARMFORGE_CACHE", Path.home() / ".cache" / "swarmforge"))
DEFAULT_NAME = "swarmforge"
# The lab's nodes are reached as this unprivileged user, a passwordless sudoer, as operators reach theirs: root does
# not log in over SSH (lab/node-image/customize.sh), so every run goes through Ansible's become.
LAB_USER = "swarmforge"
LAB_UID = 1000
DEFAULT_SUBNET = "172.28.88.0/24"

# Host offsets inside the lab subnet. The gateway is .1 (the host side of the bridge).
MANAGER_OFFSET = 10
STORAGE_OFFSET = 30
WORKER_OFFSET = 100
MAX_MANAGERS = 9
MAX_STORAGE = 9
MAX_WORKERS = 120
# VM labs: every node forwards SSH and these published ports to 127.0.0.1 (lab/vm.py); ports are numbered per node.
VM_FORWARDED_PORTS = (8080, 8081, 8082)
MAX_VM_NODES = 16
STORAGE_GROUPS = ("nfs_servers", "registries")
# Debian releases a lab node can run (the release number and its suite).
DEBIAN_SUITES = {"12": "bookworm", "13": "trixie"}
# Debian 13 (trixie, the current stable) by default. The VM backend's image, and the application images the lab
# builds from Debian packages, stay on Debian 12.
DEFAULT_DEBIAN = "13"
VM_DEBIAN = "12"
# Where the nodes' engine comes from: Debian's docker.io, or docker-ce from the lab's repository with the layout and
# signing of Docker's (lab/dockerrepo.py: Debian's packages under Docker's names).
ENGINE_SOURCES = ("distro", "docker-ce")


class LabError(Exception):
    """A problem the user can fix; the message says how."""


@dataclass(frozen=True)
class Node:
    name: str
    role: str  # manager | worker | storage
    address: str
    extra_groups: tuple[str, ...] = ()  # e.g. a manager that also serves NFS and the registry (small VM labs)
    debian: str = DEFAULT_DEBIAN  # the Debian release the node runs

    @property
    def groups(self) -> tuple[str, ...]:
        if self.role == "manager":
            return ("swarm_managers", *self.extra_groups)
        if self.role == "worker":
            return ("swarm_workers", *self.extra_groups)
        return STORAGE_GROUPS


@dataclass(frozen=True)
class LabSpec:
    name: str = DEFAULT_NAME
    managers: int = 3
    workers: int = 2
    storage: int = 1
    subnet: str = DEFAULT_SUBNET
    backend: str = "containers"
    domain: str = "lab.swarmforge.test"
    memory: int = 1024  # MiB per node (vm backend)
    # The qemu processes' niceness (vm backend): emulated CPUs take a core each whenever the guest is busy; a lab run
    # beside other work can leave the cores to it first.
    nice: int = 0
    # With no storage node, the last manager serves NFS and the registry (a VM lab of three managers).
    storage_on_manager: bool = False
    # The Debian release of the nodes; manager_debian, when set, that of the managers (a cluster of two releases, as
    # one is while its hosts move to the next).
    debian: str = ""  # empty: the backend's own (DEFAULT_DEBIAN for containers, VM_DEBIAN for VMs)
    manager_debian: str = ""
    engine_source: str = "distro"
    nodes: tuple[Node, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.debian:
            object.__setattr__(self, "debian", VM_DEBIAN if self.backend == "vm" else DEFAULT_DEBIAN)
        self._validate()
        object.__setattr__(self, "nodes", tuple(self._make_nodes()))

    def _validate(self) -> None:
        if not self.name.replace("-", "").isalnum() or not self.name[0].isalpha():
            raise LabError(f"lab name {self.name!r}: use letters, digits and '-', starting with a letter")
        limits = (("managers", self.managers, 1, MAX_MANAGERS), ("workers", self.workers, 0, MAX_WORKERS),
                  ("storage", self.storage, 0, MAX_STORAGE))
        for what, count, low, high in limits:
            if not low <= count <= high:
                raise LabError(f"--{what} {count}: the lab supports {low} to {high} {what}")
        network = ipaddress.ip_network(self.subnet, strict=True)
        if network.version != 4 or network.prefixlen > 24:
            raise LabError(f"--subnet {self.subnet}: give an IPv4 network of /24 or larger, e.g. {DEFAULT_SUBNET}")
        if self.storage_on_manager and self.storage:
            raise LabError(f"--storage {self.storage} with --storage-on-manager: choose one place for NFS and the "
                           "registry (--storage 0 keeps them on the last manager)")
        for option, release in (("--debian", self.debian), ("--manager-debian", self.manager_debian or self.debian)):
            if release not in DEBIAN_SUITES:
                raise LabError(f"{option} {release}: the lab builds Debian {' and '.join(DEBIAN_SUITES)} nodes")
        if self.backend == "vm" and (self.debian != VM_DEBIAN or self.manager_debian not in ("", VM_DEBIAN)):
            raise LabError(f"--debian {self.debian}: the vm backend runs Debian {VM_DEBIAN} only; use the "
                           "containers backend for other releases")
        if self.engine_source not in ENGINE_SOURCES:
            raise LabError(f"--engine-source {self.engine_source}: choose one of {', '.join(ENGINE_SOURCES)}")
        if self.backend == "vm" and self.engine_source != "distro":
            raise LabError("--engine-source docker-ce: the vm backend installs Debian's docker.io only; use the "
                           "containers backend for the docker-ce path")
        if self.backend == "vm":
            total = self.managers + self.workers + self.storage
            if total > MAX_VM_NODES:
                raise LabError(f"{total} VMs: the vm backend supports up to {MAX_VM_NODES} nodes")
            if not 512 <= self.memory <= 65536:
                raise LabError(f"--memory {self.memory}: give MiB per VM between 512 and 65536 (1024 is enough)")
        if not 0 <= self.nice <= 19:
            raise LabError(f"--nice {self.nice}: give a niceness between 0 (the default) and 19")
        if self.nice and self.backend != "vm":
            raise LabError("--nice is the VMs' CPU priority: only the vm backend has it")

    def _make_nodes(self) -> list[Node]:
        network = ipaddress.ip_network(self.subnet)
        base = network.network_address
        nodes = [Node(f"manager{i}", "manager", str(base + MANAGER_OFFSET + i),
                      STORAGE_GROUPS if self.storage_on_manager and i == self.managers else (),
                      self.manager_debian or self.debian)
                 for i in range(1, self.managers + 1)]
        nodes += [Node(f"worker{i}", "worker", str(base + WORKER_OFFSET + i), debian=self.debian)
                  for i in range(1, self.workers + 1)]
        nodes += [Node(f"storage{i}", "storage", str(base + STORAGE_OFFSET + i), debian=self.debian)
                  for i in range(1, self.storage + 1)]
        return nodes

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + 1)

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    @property
    def port_base(self) -> int:
        """VM labs: the first of 100 loopback ports of this lab, distinct per subnet (so two labs can run at once)."""
        return 20000 + 100 * ipaddress.ip_network(self.subnet).network_address.packed[2]

    def ssh_endpoint(self, node: Node) -> tuple[str, int]:
        """Where the control host reaches a node's sshd."""
        if self.backend == "vm":
            return "127.0.0.1", self.port_base + 1 + self.nodes.index(node)
        return node.address, 22

    def published_endpoint(self, node: Node, port: int) -> tuple[str, int]:
        """Where the control host reaches a port a node publishes (VM labs forward VM_FORWARDED_PORTS only)."""
        if self.backend != "vm":
            return node.address, port
        if port not in VM_FORWARDED_PORTS:
            raise LabError(f"port {port} is not forwarded from the VMs (forwarded: {VM_FORWARDED_PORTS})")
        return "127.0.0.1", self.port_base + 50 + 3 * self.nodes.index(node) + VM_FORWARDED_PORTS.index(port)

    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / self.name

    @property
    def key_path(self) -> Path:
        return self.state_dir / "ssh" / "id_ed25519"

    @property
    def inventory_path(self) -> Path:
        """The default lab writes the repository's lab inventory; any other lab keeps its own."""
        if self.name == DEFAULT_NAME:
            return REPO_ROOT / "inventories" / "lab" / "hosts.yml"
        return self.state_dir / "inventory" / "hosts.yml"

    @property
    def fact_cache(self) -> Path:
        """Ansible's jsonfile fact cache is keyed by host name, and labs share host names: one cache per lab."""
        suffix = "" if self.name == DEFAULT_NAME else f"-{self.name}"
        return REPO_ROOT / ".cache" / f"facts{suffix}"

    def to_dict(self) -> dict:
        return {"name": self.name, "managers": self.managers, "workers": self.workers, "storage": self.storage,
                "subnet": self.subnet, "backend": self.backend, "domain": self.domain, "memory": self.memory,
                "nice": self.nice,
                "storage_on_manager": self.storage_on_manager, "debian": self.debian,
                "manager_debian": self.manager_debian, "engine_source": self.engine_source}
