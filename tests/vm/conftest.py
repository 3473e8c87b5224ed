"""The VM lane: a lab of two qemu VMs (one manager, also serving NFS and the registry, and one worker: the tutorials'
smallest cluster), converged by site.yml, for what only a real kernel shows: the ingress routing mesh, service VIPs, NFS-backed volumes. The lab
itself is the session fixture vm_lab (tests/conftest.py)."""

from __future__ import annotations

import subprocess

import pytest
from cluster import Cluster, converge
from helpers import VM_LAB_NAME, lab_playbook

# The lane deploys the web stack only (web servers behind haproxy, the shared html folder on NFS): the container
# lane deploys and checks every stack, and each more image costs minutes on emulated CPUs.
LANE_VARS = '{"lab_deploy_stacks": ["web"]}'


def lane_playbook(path: str, *args: str) -> subprocess.CompletedProcess[str]:
    return lab_playbook(VM_LAB_NAME, path, "-e", LANE_VARS, *args, timeout=2400)


@pytest.fixture(scope="session")
def vm_cluster(vm_lab: str) -> Cluster:
    return converge(vm_lab, lambda: lane_playbook("site.yml"))
