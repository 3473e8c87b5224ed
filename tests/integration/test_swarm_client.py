"""The shared client's failures: SDK missing, daemon missing, an unprotected TCP API."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from helpers import OTHER_ENGINE, run_module


def python_without_sdk() -> str | None:
    for candidate in ("/usr/bin/python3", shutil.which("python3.12"), shutil.which("python3.10")):
        if candidate and subprocess.run([candidate, "-c", "import docker"], capture_output=True).returncode != 0:
            return candidate
    return None


def test_missing_sdk_names_the_package() -> None:
    python = python_without_sdk()
    if python is None:
        pytest.skip("every Python on this machine has the Docker SDK; nothing to show")
    result = run_module("swarm_info", {}, extra_vars={"ansible_python_interpreter": python})
    assert result.get("failed")
    assert "Failed to import the required Python library (docker (the Docker SDK for Python: python3-docker on " \
           "Debian/Ubuntu, or pip install docker))" in result["msg"]


def test_missing_daemon_says_how_to_fix() -> None:
    result = run_module("swarm_info", {"docker_host": "unix:///run/swarmforge-no-such.sock"})
    assert result.get("failed")
    assert "the Docker daemon at unix:///run/swarmforge-no-such.sock does not answer" in result["msg"]
    assert "Is the engine installed and running?" in result["msg"]


def test_tcp_without_tls_is_refused() -> None:
    result = run_module("swarm_info", {"docker_host": "tcp://127.0.0.1:2375"})
    assert result.get("failed")
    assert "is TCP without TLS" in result["msg"] and "does not talk to an unprotected Docker API" in result["msg"]


def test_info_outside_a_swarm(free_engine) -> None:
    if free_engine.info()["Swarm"]["LocalNodeState"] != "inactive":
        free_engine.swarm.leave(force=True)
    result = run_module("swarm_info", {"include_tokens": True})
    assert not result["changed"] and not result["is_manager"]
    assert result["local"]["state"] == "inactive" and "join_tokens" not in result


def test_info_on_a_manager_lists_nodes_and_gives_tokens_only_when_asked(swarm) -> None:
    plain = run_module("swarm_info", {})
    assert plain["is_manager"] and "join_tokens" not in plain and "unlock_key" not in plain
    node = plain["nodes"][0]
    assert node["id"] == swarm.info()["Swarm"]["NodeID"] and node["role"] == "manager" and node["leader"]
    assert node["state"] == "ready" and node["availability"] == "active"
    assert plain["managers"] == {"total": 1, "reachable": 1, "leader": node["hostname"], "quorum": 1,
                                 "has_quorum": True}
    assert plain["cluster"]["id"] == swarm.info()["Swarm"]["Cluster"]["ID"]
    tokens = run_module("swarm_info", {"include_tokens": True})
    assert tokens["join_tokens"]["worker"] == swarm.swarm.attrs["JoinTokens"]["Worker"]
    assert tokens["join_tokens"]["manager"].startswith("SWMTKN-1-")


def test_the_modules_talk_to_the_engine_under_test(swarm) -> None:
    """The engine the modules answer from is the one these tests were given (this machine's, or another release's
    through DOCKER_HOST): its node's engine version is the version that engine reports."""
    result = run_module("swarm_info", {})
    version = swarm.version()["Version"]
    assert [node["engine_version"] for node in result["nodes"]] == [version]
    if OTHER_ENGINE:
        release = OTHER_ENGINE.removeprefix("debian")
        assert swarm.info()["OperatingSystem"].startswith(f"Debian GNU/Linux {release}"), swarm.info()["OperatingSystem"]
