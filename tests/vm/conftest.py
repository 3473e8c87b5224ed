"""The VM lane: a lab of three qemu VMs (three managers, the last one serving NFS and the registry), converged by
site.yml, for what only a real kernel shows: the ingress routing mesh, service VIPs, NFS-backed volumes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from e2e.conftest import Cluster
from helpers import REPO, VM_LAB_NAME, VM_LAB_SUBNET, lab_inventory, lab_playbook, lab_state
from lab.spec import LabSpec

# The lane deploys the web stack only (web servers behind haproxy, the shared html folder on NFS): the container
# lane deploys and checks every stack, and each more image costs minutes on emulated CPUs.
LANE_VARS = '{"lab_deploy_stacks": ["web"]}'
_CONVERGE_FAILURE: list[str] = []


def _lab(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "lab", "--name", VM_LAB_NAME, *args], cwd=REPO, check=True, timeout=1800)


def lane_playbook(path: str, *args: str) -> subprocess.CompletedProcess[str]:
    return lab_playbook(VM_LAB_NAME, path, "-e", LANE_VARS, *args, timeout=2400)


@pytest.fixture(scope="session")
def vm_lab() -> Iterator[str]:
    """The suite runner brings the VM lab up as a timed step; a run of this folder alone brings it up itself and
    removes it afterwards (unless SWARMFORGE_KEEP_LAB=1)."""
    created = lab_state(VM_LAB_NAME) is None
    _lab("up", "--backend", "vm", "--subnet", VM_LAB_SUBNET)
    yield VM_LAB_NAME
    if created and os.environ.get("SWARMFORGE_KEEP_LAB") != "1":
        _lab("down")


@pytest.fixture(scope="session")
def vm_cluster(vm_lab: str) -> Cluster:
    if _CONVERGE_FAILURE:
        pytest.fail(f"site.yml failed on the VM lab (see the first error): {_CONVERGE_FAILURE[0]}")
    first = lane_playbook("site.yml")
    if first.returncode != 0:
        _CONVERGE_FAILURE.append(next((line for line in first.stdout.splitlines() if line.startswith("fatal:")),
                                      f"exit {first.returncode}")[:500])
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
    return Cluster(vm_lab, LabSpec(**lab_state(vm_lab)), lab_inventory(vm_lab), first.stdout)
