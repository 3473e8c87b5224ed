"""docker_engine on a lab node: the engine runs with exactly the daemon.json asked for, even after a broken option
was refused (side_effect.yml), and the SDK the swarm modules need is there."""

from __future__ import annotations

import json

EXPECTED = {
    "log-driver": "json-file",
    "log-opts": {"max-size": "10m", "max-file": "3"},
    "registry-mirrors": ["http://mirror.lab.swarmforge.test:5000"],
    "insecure-registries": ["registry.lab.swarmforge.test:5000"],
    "default-address-pools": [{"base": "10.210.0.0/16", "size": 24}],
}


def test_engine_active_and_enabled(host) -> None:
    docker = host.service("docker")
    assert docker.is_running and docker.is_enabled


def test_daemon_json_is_exactly_the_dict_and_in_force(host) -> None:
    assert json.loads(host.file("/etc/docker/daemon.json").content_string) == EXPECTED
    # The Engine API itself (testinfra's ansible backend would template a Go template's braces).
    info = json.loads(host.check_output("curl -s --unix-socket /var/run/docker.sock http://localhost/info"))
    assert info["LoggingDriver"] == "json-file"
    assert info["RegistryConfig"]["Mirrors"] == ["http://mirror.lab.swarmforge.test:5000/"]
    assert "registry.lab.swarmforge.test:5000" in info["RegistryConfig"]["IndexConfigs"]


def test_sdk_and_docker_group(host) -> None:
    assert host.run("python3 -c 'import docker'").rc == 0
    assert "docker" in host.user("swarmforge").groups


def test_engine_version_is_held(host) -> None:
    assert "docker.io" in host.check_output("apt-mark showhold")
