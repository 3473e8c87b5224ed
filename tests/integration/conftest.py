"""A single-node swarm on a real Docker engine, made for the tests and removed after them.

The engine is this machine's own; with SWARMFORGE_TEST_ENGINE=debian13 (the suite's integration-debian13 stage) it
is Debian 13's docker.io (Docker 26.1) in a container (lab/otherengine.py), removed after the tests unless
SWARMFORGE_KEEP_LAB=1: the modules run with DOCKER_HOST set to its socket, as does every client the tests make.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import docker
import pytest
from helpers import OTHER_ENGINE, REPO

from lab.appimages import ensure_busybox_image


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    command = [sys.executable, "-m", "lab", "engine"]
    if OTHER_ENGINE:
        release = re.fullmatch(r"debian(\d+)", OTHER_ENGINE)
        assert release, f"SWARMFORGE_TEST_ENGINE={OTHER_ENGINE}: give debianNN (e.g. debian13)"
        command += ["--debian", release.group(1)]
    started = subprocess.run(command, cwd=REPO, check=False, timeout=900, capture_output=True, text=True)
    print(started.stdout, end="")
    assert started.returncode == 0, f"{' '.join(command[1:])} failed:\n{started.stdout}\n{started.stderr}"
    host = re.search(r"^DOCKER_HOST=(\S+)$", started.stdout, re.M)
    if host:
        os.environ["DOCKER_HOST"] = host.group(1)  # for docker.from_env() and every module run_module starts
    client = docker.from_env()
    ensure_busybox_image(client)  # the image test services run
    yield client
    client.close()
    if OTHER_ENGINE and os.environ.get("SWARMFORGE_KEEP_LAB") != "1":
        # The lab tool removes it through this machine's engine: not through the DOCKER_HOST set above, which names
        # the engine being removed (it would find no such container there and leave it running without its socket).
        env = {key: value for key, value in os.environ.items() if key != "DOCKER_HOST"}
        subprocess.run(command + ["--remove"], cwd=REPO, check=True, timeout=300, env=env)


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
