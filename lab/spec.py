"""What a lab is: its name, its nodes and their addresses, and where its state lives."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_ROOT = Path(os.environ.get("SWARMFORGE_LAB_STATE", REPO_ROOT / ".lab"))
DEFAULT_NAME = "swarmforge"
DEFAULT_SUBNET = "172.28.88.0/24"

# Host offsets inside the lab subnet. The gateway is .1 (the host side of the bridge).
MANAGER_OFFSET = 10
STORAGE_OFFSET = 30
WORKER_OFFSET = 100
MAX_MANAGERS = 9
MAX_STORAGE = 9
MAX_WORKERS = 120


class LabError(Exception):
    """A problem the user can fix; the message says how."""


@dataclass(frozen=True)
class Node:
    name: str
    role: str  # manager | worker | storage
    address: str

    @property
    def groups(self) -> tuple[str, ...]:
        if self.role == "manager":
            return ("swarm_managers",)
        if self.role == "worker":
            return ("swarm_workers",)
        return ("nfs_servers", "registries")


@dataclass(frozen=True)
class LabSpec:
    name: str = DEFAULT_NAME
    managers: int = 3
    workers: int = 2
    storage: int = 1
    subnet: str = DEFAULT_SUBNET
    backend: str = "containers"
    domain: str = "lab.swarmforge.test"
    nodes: tuple[Node, ...] = field(init=False)

    def __post_init__(self) -> None:
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

    def _make_nodes(self) -> list[Node]:
        network = ipaddress.ip_network(self.subnet)
        base = network.network_address
        nodes = [Node(f"manager{i}", "manager", str(base + MANAGER_OFFSET + i)) for i in range(1, self.managers + 1)]
        nodes += [Node(f"worker{i}", "worker", str(base + WORKER_OFFSET + i)) for i in range(1, self.workers + 1)]
        nodes += [Node(f"storage{i}", "storage", str(base + STORAGE_OFFSET + i)) for i in range(1, self.storage + 1)]
        return nodes

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + 1)

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

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
                "subnet": self.subnet, "backend": self.backend, "domain": self.domain}
