"""A single-node swarm on this machine's own Docker engine, made for the tests and removed after them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import docker
import pytest

from helpers import REPO
from lab.appimages import ensure_busybox_image


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    subprocess.run([sys.executable, "-m", "lab", "engine"], cwd=REPO, check=True, timeout=600)
    client = docker.from_env()
    ensure_busybox_image(client)  # the image test services run
    return client


@pytest.fixture(scope="session")
def free_engine(engine: docker.DockerClient) -> Iterator[docker.DockerClient]:
    """The host engine, not in a swarm; left as it was found."""
    state = engine.info()["Swarm"]["LocalNodeState"]
    if state != "inactive":
        pytest.skip(f"this machine's Docker engine is already in a swarm ({state}); these tests would change it")
    yield engine
    if engine.info()["Swarm"]["LocalNodeState"] != "inactive":
        engine.swarm.leave(force=True)


@pytest.fixture()
def no_swarm(free_engine: docker.DockerClient) -> docker.DockerClient:
    if free_engine.info()["Swarm"]["LocalNodeState"] != "inactive":
        free_engine.swarm.leave(force=True)
    return free_engine


@pytest.fixture()
def swarm(free_engine: docker.DockerClient) -> docker.DockerClient:
    if free_engine.info()["Swarm"]["LocalNodeState"] != "active":
        free_engine.swarm.init(advertise_addr="127.0.0.1")
    return free_engine
