from __future__ import annotations

import pytest
from ansible_collections.swarmforge.swarm.plugins.modules.swarm_info import service_facts

HOSTNAMES = {"n1": "manager1", "n2": "worker1"}


def service(name: str, *, running: int, desired: int, update: str | None = None, stack: str | None = "web",
            mode: dict | None = None, ports: list | None = None) -> dict:
    spec = {"Name": name, "Mode": mode or {"Replicated": {"Replicas": desired}},
            "Labels": {"com.docker.stack.namespace": stack} if stack else {},
            "TaskTemplate": {"ContainerSpec": {"Image": "reg:5000/web:v1@sha256:abc"}},
            "EndpointSpec": {"Ports": ports or []}}
    return {"ID": name, "Spec": spec, "ServiceStatus": {"RunningTasks": running, "DesiredTasks": desired},
            "UpdateStatus": {"State": update} if update else None}


def task(service_id: str, node: str, state: str = "running") -> dict:
    return {"ServiceID": service_id, "NodeID": node, "Status": {"State": state}}


def test_service_facts_read_as_a_person_reads_them() -> None:
    facts = service_facts(
        [service("web_web", running=2, desired=2, ports=[{"TargetPort": 80, "PublishedPort": 8080,
                                                          "PublishMode": "host"}]),
         service("agent", running=2, desired=2, stack=None, mode={"Global": {}})],
        [task("web_web", "n2"), task("web_web", "n1"), task("web_web", "n1", "shutdown"), task("agent", "n1"),
         task("agent", "n2")], HOSTNAMES)
    assert [fact["name"] for fact in facts] == ["agent", "web_web"]
    web = facts[1]
    assert web == {"name": "web_web", "stack": "web", "mode": "replicated", "image": "reg:5000/web:v1", "desired": 2,
                   "running": 2, "converged": True, "update_state": None, "ports": ["8080:80/tcp (host)"],
                   "nodes": ["manager1", "worker1"]}
    assert facts[0]["mode"] == "global" and facts[0]["stack"] is None


@pytest.mark.parametrize(("running", "desired", "update", "converged"), [
    (3, 3, None, True),
    (3, 3, "completed", True),
    (3, 3, "rollback_completed", True),
    (2, 3, None, False),
    (3, 3, "updating", False),
    (3, 3, "rollback_started", False),
    (0, 0, None, True),
])
def test_converged_means_every_task_runs_and_no_update_is_in_progress(running: int, desired: int,
                                                                      update: str | None, converged: bool) -> None:
    facts = service_facts([service("s", running=running, desired=desired, update=update)], [], HOSTNAMES)
    assert facts[0]["converged"] is converged
