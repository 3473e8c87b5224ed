"""swarm_secret and swarm_config on the host engine: versions, service rotation, pruning, and no secret in output."""

from __future__ import annotations

import time

import docker
import pytest
from helpers import run_module

NAME = "sf_it_db_password"
SECRET = "correct-horse-battery-staple-41"


@pytest.fixture()
def clean(swarm: docker.DockerClient):
    def remove() -> None:
        for svc in swarm.services.list(filters={"name": "sf-it-"}):
            svc.remove()
        deadline = time.monotonic() + 30
        for kind in (swarm.secrets, swarm.configs):
            for obj in kind.list(filters={"label": f"io.swarmforge.name={NAME}"}) + kind.list(filters={"name": NAME}):
                while True:
                    try:
                        obj.remove()
                        break
                    except docker.errors.NotFound:
                        break
                    except docker.errors.APIError:  # still in use by a service that is going away
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(1)
    remove()
    yield swarm
    remove()


def versions(engine: docker.DockerClient) -> list[str]:
    return sorted(s.name for s in engine.secrets.list(filters={"label": f"io.swarmforge.name={NAME}"}))


def test_secret_four_ways_and_never_in_the_output(clean: docker.DockerClient) -> None:
    args = {"name": NAME, "data": SECRET, "labels": {"app": "db"}}
    check = run_module("swarm_secret", args, check=True)
    assert check["changed"] and versions(clean) == []
    apply = run_module("swarm_secret", args)
    assert apply["changed"] and apply["name"] == f"{NAME}_v1" and apply["version"] == 1
    assert versions(clean) == [f"{NAME}_v1"]
    labels = clean.secrets.get(apply["id"]).attrs["Spec"]["Labels"]
    assert labels["app"] == "db" and labels["io.swarmforge.version"] == "1"
    again, check_again = run_module("swarm_secret", args), run_module("swarm_secret", args, check=True)
    for unchanged in (again, check_again):
        assert not unchanged["changed"] and unchanged["name"] == f"{NAME}_v1"
        assert unchanged["diff"]["before"] == unchanged["diff"]["after"]
    for result in (check, apply, again, check_again):
        assert SECRET not in result["_raw"]


def test_new_content_makes_a_version_and_moves_the_service(clean: docker.DockerClient) -> None:
    first = run_module("swarm_secret", {"name": NAME, "data": SECRET})
    secret = docker.types.SecretReference(first["id"], first["name"], filename="db_password", mode=0o400)
    svc = clean.services.create("swarmforge/busybox:1.35", ["sleep", "600"], name="sf-it-db", secrets=[secret])
    rotated = run_module("swarm_secret", {"name": NAME, "data": SECRET + "-rotated"})
    assert rotated["changed"] and rotated["name"] == f"{NAME}_v2"
    assert rotated["services_updated"] == ["sf-it-db"]
    assert SECRET not in rotated["_raw"]
    svc.reload()
    refs = svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert [(r["SecretName"], r["File"]["Name"], r["File"]["Mode"]) for r in refs] == \
        [(f"{NAME}_v2", "db_password", 0o400)]
    assert versions(clean) == [f"{NAME}_v1", f"{NAME}_v2"], "keep=3 keeps the previous version"


def test_versions_beyond_keep_are_pruned_once_unused(clean: docker.DockerClient) -> None:
    for number in range(1, 5):
        run_module("swarm_secret", {"name": NAME, "data": f"{SECRET}-{number}", "keep": 2})
    assert versions(clean) == [f"{NAME}_v3", f"{NAME}_v4"]


def test_absent_refuses_while_used_then_removes_every_version(clean: docker.DockerClient) -> None:
    first = run_module("swarm_secret", {"name": NAME, "data": SECRET})
    run_module("swarm_secret", {"name": NAME, "data": SECRET + "2"})
    svc = clean.services.create("swarmforge/busybox:1.35", ["sleep", "600"], name="sf-it-user",
                                secrets=[docker.types.SecretReference(first["id"], first["name"])])
    refused = run_module("swarm_secret", {"name": NAME, "state": "absent"})
    assert refused.get("failed") and refused["msg"] == f"secret {NAME} is used by services sf-it-user: remove them first"
    svc.remove()
    time.sleep(2)
    removed = run_module("swarm_secret", {"name": NAME, "state": "absent"})
    assert removed["changed"] and versions(clean) == []
    assert not run_module("swarm_secret", {"name": NAME, "state": "absent"})["changed"]


def test_config_content_is_versioned_and_readable_by_the_service(clean: docker.DockerClient) -> None:
    args = {"name": NAME, "data": "global\n  maxconn 256\n"}
    made = run_module("swarm_config", args)
    assert made["changed"] and made["name"] == f"{NAME}_v1"
    assert clean.configs.get(made["id"]).attrs["Spec"]["Data"]  # stored (base64) by the engine
    assert not run_module("swarm_config", args)["changed"]
    changed = run_module("swarm_config", {"name": NAME, "data": "global\n  maxconn 512\n"}, check=True)
    assert changed["changed"] and changed["actions"] == [f"create config {NAME}_v2"]


def test_missing_content_is_an_argument_error(clean: docker.DockerClient) -> None:
    result = run_module("swarm_secret", {"name": NAME})
    assert result.get("failed") and "state is present but any of the following are missing: data, src" in result["msg"]
