"""The one small interface every lab backend offers: up, down, status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lab.spec import LabSpec


@dataclass(frozen=True)
class NodeStatus:
    name: str
    role: str
    address: str
    state: str  # running | stopped | missing


class Backend(Protocol):
    name: str

    def up(self, spec: LabSpec, public_key: str) -> None:
        """Create or start every node of spec (and remove nodes the spec no longer has), authorizing public_key."""

    def down(self, spec: LabSpec) -> list[str]:
        """Remove exactly what up made; return what was removed."""

    def status(self, spec: LabSpec) -> list[NodeStatus]:
        """Every node of the lab as it is now."""
