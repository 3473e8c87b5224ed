"""swarm_stack on the host engine's single-node swarm: compare first, deploy only when different, wait, roll back."""

from __future__ import annotations

import copy
import time

import docker
import pytest
from helpers import run_module

STACK = "sfit"
IMAGE = "swarmforge/busybox:1.35"
COMPOSE = {
    "version": "3.8",
    "services": {
        "web": {
            "image": IMAGE,
            "command": ["sh", "-c", "echo $$GREETING > /www/index.html; exec httpd -f -p 8080 -h /www"],
            "environment": {"GREETING": "v1"},
            "networks": ["back"],
            # The commands run as PID 1 and ignore SIGTERM: each stopped task would wait out the default 10 s.
            "stop_grace_period": "1s",
            "deploy": {"replicas": 2, "update_config": {"parallelism": 1, "delay": "1s", "order": "start-first",
                                                        "failure_action": "rollback", "monitor": "3s"},
                       "labels": {"tier": "web"}},
        },
        "idle": {"image": IMAGE, "command": ["sleep", "3600"], "networks": ["back"], "stop_grace_period": "1s"},
    },
    "networks": {"back": {"driver": "overlay", "attachable": True}},
}


@pytest.fixture(scope="module")
def removed_at_the_end(free_engine: docker.DockerClient):
    yield
    if free_engine.info()["Swarm"]["LocalNodeState"] == "active":
        run_module("swarm_stack", {"name": STACK, "state": "absent"})


@pytest.fixture()
def clean(swarm: docker.DockerClient, removed_at_the_end: None):
    """Each test starts without the stack; the next test's start (or the module's end) removes what it left, so the
    stack is removed once between two tests, not twice."""
    run_module("swarm_stack", {"name": STACK, "state": "absent"})
    yield swarm


def services(engine: docker.DockerClient) -> dict[str, docker.models.services.Service]:
    return {s.name: s for s in engine.services.list(filters={"label": f"com.docker.stack.namespace={STACK}"})}


def running(engine: docker.DockerClient, name: str) -> int:
    return len([t for t in services(engine)[name].tasks({"desired-state": "running"})
                if t["Status"]["State"] == "running"])


def test_deploy_four_ways(clean: docker.DockerClient) -> None:
    check = run_module("swarm_stack", {"name": STACK, "definition": COMPOSE}, check=True)
    assert check["changed"] and services(clean) == {}
    assert check["services"] == {"sfit_web": {"action": "create", "fields": check["services"]["sfit_web"]["fields"]},
                                 "sfit_idle": {"action": "create",
                                               "fields": check["services"]["sfit_idle"]["fields"]}}
    assert check["networks_created"] == ["sfit_back"]
    deployed = run_module("swarm_stack", {"name": STACK, "definition": COMPOSE})
    assert deployed["changed"] and "Creating service sfit_web" in deployed["deploy_output"]
    assert deployed["converged"]["sfit_web"] == {"running": 2, "desired": 2, "update": "none"}
    assert running(clean, "sfit_web") == 2 and running(clean, "sfit_idle") == 1
    for again in (run_module("swarm_stack", {"name": STACK, "definition": COMPOSE}),
                  run_module("swarm_stack", {"name": STACK, "definition": COMPOSE}, check=True)):
        assert not again["changed"], again["services"]
        assert "deploy_output" not in again
        assert all(item["action"] == "none" for item in again["services"].values())


def test_update_is_reported_with_the_diff_then_converges(clean: docker.DockerClient) -> None:
    run_module("swarm_stack", {"name": STACK, "definition": COMPOSE})
    updated = copy.deepcopy(COMPOSE)
    updated["services"]["web"]["environment"]["GREETING"] = "v2"
    updated["services"]["web"]["deploy"]["replicas"] = 3
    check = run_module("swarm_stack", {"name": STACK, "definition": updated}, check=True)
    assert check["services"]["sfit_web"] == {"action": "update", "fields": ["environment", "replicas"]}
    assert check["services"]["sfit_idle"]["action"] == "none"
    assert check["diff"]["before"] == {"sfit_web": {"environment": ["GREETING=v1"], "replicas": 2}}
    assert check["diff"]["after"] == {"sfit_web": {"environment": ["GREETING=v2"], "replicas": 3}}
    applied = run_module("swarm_stack", {"name": STACK, "definition": updated})
    assert applied["changed"] and applied["converged"]["sfit_web"]["running"] == 3
    env = services(clean)["sfit_web"].attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert env == ["GREETING=v2"]
    assert not run_module("swarm_stack", {"name": STACK, "definition": updated})["changed"]


def test_an_image_changed_by_hand_is_put_back_even_without_registry_queries(clean: docker.DockerClient) -> None:
    """docker stack deploy keeps a running image when the compose names the stack's last one: the module must not."""
    run_module("swarm_stack", {"name": STACK, "definition": COMPOSE, "resolve_image": "never"})
    clean.images.get(IMAGE).tag("swarmforge/busybox", "drift")
    try:
        services(clean)["sfit_idle"].update(image="swarmforge/busybox:drift")
        check = run_module("swarm_stack", {"name": STACK, "definition": COMPOSE, "resolve_image": "never"}, check=True)
        assert check["services"]["sfit_idle"] == {"action": "update", "fields": ["image"]}
        applied = run_module("swarm_stack", {"name": STACK, "definition": COMPOSE, "resolve_image": "never"})
        assert applied["changed"] and applied["converged"]["sfit_idle"]["running"] == 1
    finally:
        clean.images.remove("swarmforge/busybox:drift")  # the tag only: the image keeps its own
    spec = services(clean)["sfit_idle"].attrs["Spec"]
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0] == IMAGE
    assert not run_module("swarm_stack", {"name": STACK, "definition": COMPOSE, "resolve_image": "never"})["changed"]


def test_a_failing_update_rolls_back_and_fails_with_the_reason(clean: docker.DockerClient) -> None:
    run_module("swarm_stack", {"name": STACK, "definition": COMPOSE})
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["web"]["command"] = ["sh", "-c", "exit 3"]
    result = run_module("swarm_stack", {"name": STACK, "definition": broken, "wait_timeout": 240})
    assert result.get("failed")
    assert "service sfit_web did not take the new spec (rollback_" in result["msg"]
    assert "task errors: failed: task: non-zero exit (3)" in result["msg"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and running(clean, "sfit_web") != 2:
        time.sleep(2)
    args = services(clean)["sfit_web"].attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"]
    assert args[:2] == ["sh", "-c"] and "httpd" in args[2], "the previous spec runs again"


def test_prune_removes_services_the_compose_dropped(clean: docker.DockerClient) -> None:
    run_module("swarm_stack", {"name": STACK, "definition": COMPOSE})
    smaller = copy.deepcopy(COMPOSE)
    del smaller["services"]["idle"]
    kept = run_module("swarm_stack", {"name": STACK, "definition": smaller})
    assert not kept["changed"] and "sfit_idle" in services(clean), "without prune nothing is removed"
    pruned = run_module("swarm_stack", {"name": STACK, "definition": smaller, "prune": True})
    assert pruned["changed"] and pruned["services"]["sfit_idle"] == {"action": "remove", "fields": []}
    assert set(services(clean)) == {"sfit_web"}


def test_absent_waits_until_services_and_networks_are_gone(clean: docker.DockerClient) -> None:
    run_module("swarm_stack", {"name": STACK, "definition": COMPOSE})
    check = run_module("swarm_stack", {"name": STACK, "state": "absent"}, check=True)
    assert check["changed"] and services(clean)
    removed = run_module("swarm_stack", {"name": STACK, "state": "absent"})
    assert removed["changed"] and services(clean) == {}
    assert not clean.networks.list(filters={"label": f"com.docker.stack.namespace={STACK}"})
    assert not run_module("swarm_stack", {"name": STACK, "state": "absent"})["changed"]


def test_compose_errors_are_refused_before_anything_runs(clean: docker.DockerClient) -> None:
    result = run_module("swarm_stack", {"name": STACK, "definition": {"services": {"a": {"build": "."}}}})
    assert result.get("failed")
    assert result["msg"] == ("stack sfit: service a: a swarm service needs an image (build: is not used by stack "
                             "deploy)")
    assert services(clean) == {}


def web_env(engine: docker.DockerClient) -> list[str]:
    return services(engine)["sfit_web"].attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]


def test_rollback_four_ways(clean: docker.DockerClient) -> None:
    run_module("swarm_stack", {"name": STACK, "definition": COMPOSE})
    updated = copy.deepcopy(COMPOSE)
    updated["services"]["web"]["environment"]["GREETING"] = "v2"
    assert run_module("swarm_stack", {"name": STACK, "definition": updated})["changed"]
    rollback = {"name": STACK, "state": "rolled_back", "services": ["web"]}
    check = run_module("swarm_stack", rollback, check=True)
    assert check["changed"] and check["services"] == {"sfit_web": {"action": "rollback", "fields": ["environment"]}}
    assert check["diff"] == {"before": {"sfit_web": {"environment": ["GREETING=v2"]}},
                             "after": {"sfit_web": {"environment": ["GREETING=v1"]}}}
    assert web_env(clean) == ["GREETING=v2"]
    rolled = run_module("swarm_stack", rollback)
    assert rolled["changed"] and rolled["converged"]["sfit_web"] == {"running": 2, "desired": 2,
                                                                      "update": "rollback_completed"}
    assert web_env(clean) == ["GREETING=v1"] and running(clean, "sfit_web") == 2
    for again in (run_module("swarm_stack", rollback), run_module("swarm_stack", rollback, check=True)):
        assert not again["changed"]
        assert again["services"]["sfit_web"]["reason"] == "already rolled back (rollback_completed)"
    # The rollback brought back exactly what the first compose asks for; deploying v2 again goes forward.
    assert not run_module("swarm_stack", {"name": STACK, "definition": COMPOSE}, check=True)["changed"]
    forward = run_module("swarm_stack", {"name": STACK, "definition": updated})
    assert forward["changed"] and forward["converged"]["sfit_web"]["update"] == "completed"
    assert web_env(clean) == ["GREETING=v2"]


def test_rollback_of_an_unknown_service_names_the_known_ones(clean: docker.DockerClient) -> None:
    run_module("swarm_stack", {"name": STACK, "definition": COMPOSE})
    refused = run_module("swarm_stack", {"name": STACK, "state": "rolled_back", "services": ["db"]})
    assert refused.get("failed") and refused["msg"] == "stack sfit has no service db (it has: idle, web)"
    fresh = run_module("swarm_stack", {"name": STACK, "state": "rolled_back"})
    assert not fresh["changed"] and fresh["services"]["sfit_web"]["reason"] == "no previous spec"


def web_spec(engine: docker.DockerClient) -> dict:
    return services(engine)["sfit_web"].attrs["Spec"]


# Fields the live comparison does not know, each changed in turn on the deployed stack: (key, value, check on the spec)
BY_CONTENT = [
    ("healthcheck", {"test": ["CMD-SHELL", "exit 0"], "interval": "2s"},
     lambda spec: (spec["TaskTemplate"]["ContainerSpec"].get("Healthcheck") or {}).get("Interval") == 2 * 10**9),
    ("logging", {"driver": "json-file", "options": {"max-size": "2m"}},
     lambda spec: spec["TaskTemplate"].get("LogDriver") == {"Name": "json-file", "Options": {"max-size": "2m"}}),
    ("cap_add", ["NET_ADMIN"],
     lambda spec: spec["TaskTemplate"]["ContainerSpec"].get("CapabilityAdd") == ["CAP_NET_ADMIN"]),
]


def test_fields_the_live_comparison_does_not_know_are_deployed_by_content(clean: docker.DockerClient) -> None:
    run_module("swarm_stack", {"name": STACK, "definition": COMPOSE})
    changed = copy.deepcopy(COMPOSE)
    for key, value, live in BY_CONTENT:
        changed["services"]["web"][key] = value
        check = run_module("swarm_stack", {"name": STACK, "definition": changed}, check=True)
        assert check["changed"] and check["services"]["sfit_web"] == {"action": "update", "fields": [key]}, key
        assert check["services"]["sfit_idle"]["action"] == "none"
        assert check["diff"] == {"before": {"sfit_web": {key: None}}, "after": {"sfit_web": {key: value}}}
        assert not live(web_spec(clean)), f"check mode deployed nothing ({key})"
        applied = run_module("swarm_stack", {"name": STACK, "definition": changed})
        assert applied["changed"] and applied["converged"]["sfit_web"]["running"] == 2, key
        assert live(web_spec(clean)), web_spec(clean)
        for again in (run_module("swarm_stack", {"name": STACK, "definition": changed}),
                      run_module("swarm_stack", {"name": STACK, "definition": changed}, check=True)):
            assert not again["changed"], (key, again["services"])
    # A service deployed without its definition (by hand, or by an older swarmforge) is deployed once to record it.
    service = services(clean)["sfit_idle"]
    labels = dict(service.attrs["Spec"]["Labels"])
    assert labels.pop("io.swarmforge.stack.definition").startswith('{"networks":')
    clean.api.update_service(service.id, service.version, labels=labels, fetch_current_spec=True)
    check = run_module("swarm_stack", {"name": STACK, "definition": changed}, check=True)
    assert check["services"]["sfit_idle"] == {"action": "update", "fields": ["definition"]}
    assert check["services"]["sfit_web"]["action"] == "none"
    assert run_module("swarm_stack", {"name": STACK, "definition": changed})["changed"]
    assert not run_module("swarm_stack", {"name": STACK, "definition": changed})["changed"]
