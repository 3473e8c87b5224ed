"""Fixtures shared by the test layers."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cluster import Cluster, converge
from helpers import TEST_LAB_NAME, TEST_LAB_UP, VM_LAB_NAME, VM_LAB_UP, Outside, lab_cli, lab_state

from lab.appimages import ensure_busybox_image, load_into_nodes
from lab.containers import container_name

# The suite runner's folder of marks (tests/run_suite.py): the first test begun under tests/<folder> writes
# <folder> there, so that a stage waiting for that moment starts (the VM lane with the lifecycle).
_STARTED = os.environ.get("SWARMFORGE_SUITE_STARTED")


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    parts = Path(location[0]).parts
    if _STARTED and len(parts) > 2 and parts[0] == "tests":
        mark = Path(_STARTED) / parts[1]
        if not mark.exists():
            mark.write_text(nodeid + "\n", encoding="utf-8")


def _session_lab(name: str, up: tuple[str, ...], timeout: float) -> Iterator[str]:
    """The suite runner brings a lab up once for all the stages that share it; a test run alone brings it up itself
    and removes it afterwards (unless SWARMFORGE_KEEP_LAB=1)."""
    created = lab_state(name) is None
    assert lab_cli(name, "up", *up, timeout=timeout, capture=False).returncode == 0, f"lab {name}: `up` failed"
    yield name
    if created and os.environ.get("SWARMFORGE_KEEP_LAB") != "1":
        assert lab_cli(name, "down", timeout=timeout, capture=False).returncode == 0, f"lab {name}: `down` failed"


@pytest.fixture(scope="session")
def test_lab() -> Iterator[str]:
    """The container lab the end-to-end and lifecycle tests share."""
    yield from _session_lab(TEST_LAB_NAME, TEST_LAB_UP, timeout=1200)


@pytest.fixture(scope="session")
def vm_lab() -> Iterator[str]:
    """The VM lane's lab: two qemu VMs, the manager also serving NFS and the registry, and a worker."""
    yield from _session_lab(VM_LAB_NAME, VM_LAB_UP, timeout=1800)  # emulated VMs boot slowly


@pytest.fixture(scope="session")
def cluster(test_lab: str) -> Cluster:
    """The container lab converged by site.yml, once per session: the end-to-end tests read it, then the lifecycle
    changes it step by step (the suite runs both in one session, so that one converge serves both). The converge is
    an operator's: the built collection installed, `ansible-playbook swarmforge.swarm.site` from a directory holding
    only a copy of the lab's inventory; the tests after it run the repository's own playbooks (the root shims)."""
    outside = Outside(test_lab)
    converged = converge(test_lab, lambda: outside.playbook("swarmforge.swarm.site"))
    converged.outside = outside
    client = docker.from_env()
    load_into_nodes(client, converged.spec, ensure_busybox_image(client), container_name)
    return converged
