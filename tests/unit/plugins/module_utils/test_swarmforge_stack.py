from __future__ import annotations

import json

import pytest
from ansible_collections.swarmforge.swarm.plugins.module_utils import swarmforge_stack as stack
from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_stack import (
    ComposeError,
    command_list,
    compare,
    deep_merge,
    desired_networks,
    desired_services,
    duration_ns,
    environment_list,
    image_reference,
    live_service,
    size_bytes,
    task_is_current,
)


@pytest.mark.parametrize(("value", "expected"), [
    ("10s", 10 * 10**9), ("1m30s", 90 * 10**9), ("500ms", 5 * 10**8), (5, 5 * 10**9), ("1.5s", 15 * 10**8),
    ("2h", 7200 * 10**9),
])
def test_duration(value, expected: int) -> None:
    assert duration_ns(value) == expected


@pytest.mark.parametrize("value", ["10", "ten seconds", "10s5", ""])
def test_bad_duration(value) -> None:
    with pytest.raises(ComposeError, match="use a number with a unit"):
        duration_ns(value)


@pytest.mark.parametrize(("value", "expected"), [("512M", 512 * 1024**2), ("1G", 1024**3), ("100", 100),
                                                 (2048, 2048), ("1.5g", int(1.5 * 1024**3)), ("64MiB", 64 * 1024**2)])
def test_size(value, expected: int) -> None:
    assert size_bytes(value) == expected


@pytest.mark.parametrize(("image", "expected"), [
    ("nginx", "nginx:latest"), ("nginx:1.25", "nginx:1.25"), ("registry:5000/web", "registry:5000/web:latest"),
    ("registry:5000/web:v2@sha256:abc", "registry:5000/web:v2"), ("a/b/c:1", "a/b/c:1"),
])
def test_image_reference(image: str, expected: str) -> None:
    assert image_reference(image) == expected


def test_command_and_environment() -> None:
    assert command_list("sh -c 'echo hi'") == ["sh", "-c", "echo hi"]
    assert command_list(["a", 1]) == ["a", "1"] and command_list(None) is None
    assert environment_list({"B": 2, "A": None}) == ["A=", "B=2"]
    assert environment_list(["B=2", "A=1"]) == ["A=1", "B=2"] and environment_list(None) == []


def test_deep_merge_overrides_mappings_key_by_key() -> None:
    base = {"services": {"web": {"image": "a", "deploy": {"replicas": 2}}}}
    override = {"services": {"web": {"deploy": {"replicas": 3}, "ports": ["80:80"]}}}
    assert deep_merge(base, override) == {"services": {"web": {"image": "a", "deploy": {"replicas": 3},
                                                               "ports": ["80:80"]}}}
    assert base["services"]["web"]["deploy"]["replicas"] == 2


COMPOSE = {
    "services": {
        "web": {
            "image": "registry.lab:5000/web:v1",
            "command": "httpd -f -p 8080",
            "environment": {"GREETING": "hi"},
            "ports": ["8080:8080", {"target": 9000, "published": 9000, "mode": "host"}],
            "networks": ["front"],
            "secrets": ["db_password", {"source": "api_key", "target": "key", "mode": "0400"}],
            "configs": ["site"],
            "deploy": {"replicas": 3, "update_config": {"parallelism": 1, "delay": "5s", "order": "start-first"},
                       "placement": {"constraints": ["node.role == worker"], "max_replicas_per_node": 1},
                       "labels": {"tier": "front"}},
        },
        "agent": {"image": "busybox", "deploy": {"mode": "global"}},
    },
    "networks": {"front": {"driver": "overlay"}, "shared": {"external": True}},
    "secrets": {"db_password": {"external": True, "name": "db_password_v2"}, "api_key": {"file": "./key"}},
    "configs": {"site": {"file": "./site.conf"}},
}


def test_desired_services_resolve_stack_names() -> None:
    desired = desired_services("web", COMPOSE)
    assert set(desired) == {"web_web", "web_agent"}
    web = desired["web_web"]
    assert web["image"] == "registry.lab:5000/web:v1"
    assert web["command"] == ["httpd", "-f", "-p", "8080"] and web["entrypoint"] is None
    assert web["ports"] == [(8080, 8080, "tcp", "ingress"), (9000, 9000, "tcp", "host")]
    assert web["networks"] == ["web_front"]
    assert web["secrets"] == [("db_password_v2", "db_password", 0o444), ("web_api_key", "key", 0o400)]
    assert web["configs"] == [("web_site", "/site", 0o444)]
    assert web["replicas"] == 3 and web["mode"] == "replicated"
    assert web["update_config"] == {"Parallelism": 1, "Delay": 5 * 10**9, "Order": "start-first"}
    assert web["constraints"] == ["node.role == worker"] and web["max_replicas_per_node"] == 1
    assert desired["web_agent"]["mode"] == "global" and "replicas" not in desired["web_agent"]
    assert desired["web_agent"]["networks"] == ["web_default"]
    assert desired_networks("web", COMPOSE) == ["web_default", "web_front"]


def live_web(**overrides) -> dict:
    spec = {
        "Name": "web_web",
        "Labels": {"com.docker.stack.namespace": "web", "com.docker.stack.image": "x", "tier": "front"},
        "Mode": {"Replicated": {"Replicas": 3}},
        "UpdateConfig": {"Parallelism": 1, "Delay": 5 * 10**9, "FailureAction": "pause", "Order": "start-first"},
        "EndpointSpec": {"Mode": "vip", "Ports": [
            {"Protocol": "tcp", "TargetPort": 9000, "PublishedPort": 9000, "PublishMode": "host"},
            {"Protocol": "tcp", "TargetPort": 8080, "PublishedPort": 8080, "PublishMode": "ingress"}]},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "registry.lab:5000/web:v1@sha256:0123", "Args": ["httpd", "-f", "-p", "8080"],
                "Env": ["GREETING=hi"], "Labels": {"com.docker.stack.namespace": "web"},
                "Secrets": [{"SecretName": "web_api_key", "File": {"Name": "key", "Mode": 0o400}},
                            {"SecretName": "db_password_v2", "File": {"Name": "db_password", "Mode": 0o444}}],
                "Configs": [{"ConfigName": "web_site", "File": {"Name": "/site", "Mode": 0o444}}]},
            "Placement": {"Constraints": ["node.role == worker"], "MaxReplicas": 1},
            "Networks": [{"Target": "n1"}]},
    }
    spec.update(overrides)
    return {"Spec": spec}


def test_a_matching_live_service_has_no_differences() -> None:
    desired = desired_services("web", COMPOSE)["web_web"]
    assert compare(desired, live_service(live_web(), {"n1": "web_front"})) == {}


@pytest.mark.parametrize(("change", "field"), [
    ({"Mode": {"Replicated": {"Replicas": 2}}}, "replicas"),
    ({"Labels": {"tier": "back"}}, "service_labels"),
    ({"UpdateConfig": {"Parallelism": 2, "Delay": 5 * 10**9, "Order": "start-first"}}, "update_config"),
    ({"Mode": {"Global": {}}}, "mode"),
])
def test_each_difference_is_named(change: dict, field: str) -> None:
    desired = desired_services("web", COMPOSE)["web_web"]
    assert field in compare(desired, live_service(live_web(**change), {"n1": "web_front"}))


def test_image_and_environment_changes() -> None:
    compose = deep_merge(COMPOSE, {"services": {"web": {"image": "registry.lab:5000/web:v2",
                                                        "environment": {"GREETING": "hello"}}}})
    differences = compare(desired_services("web", compose)["web_web"], live_service(live_web(), {"n1": "web_front"}))
    assert set(differences) == {"image", "environment"}
    assert differences["image"] == ("registry.lab:5000/web:v1", "registry.lab:5000/web:v2")


@pytest.mark.parametrize(("compose", "message"), [
    ({"services": {"a": {"build": "."}}}, "service a: a swarm service needs an image"),
    ({"services": {}}, "the compose document has no services"),
    ({"services": {"a": {"image": "x", "ports": ["127.0.0.1:80:80"]}}}, "a host IP cannot be given"),
])
def test_compose_errors(compose: dict, message: str) -> None:
    with pytest.raises(ComposeError, match=message):
        desired_services("s", compose)


def test_dollar_escapes_and_variables() -> None:
    compose = {"services": {"a": {"image": "x", "command": ["sh", "-c", "echo $$HOME costs $$5"]}}}
    assert desired_services("s", compose)["s_a"]["command"] == ["sh", "-c", "echo $HOME costs $5"]
    with pytest.raises(ComposeError, match=r"compose.services.a.environment.X: \$\{TAG\} would be filled from the "
                                           r"environment by stack deploy; render the compose with Jinja instead"):
        desired_services("s", {"services": {"a": {"image": "x", "environment": {"X": "${TAG}"}}}})


MOUNTS_COMPOSE = {
    "services": {"db": {"image": "db", "volumes": [
        "data:/var/lib/mysql", "html:/www:ro", "/etc/localtime:/etc/localtime:ro",
        {"type": "tmpfs", "target": "/run/db"}]}},
    "volumes": {"data": {}, "html": {"external": True, "name": "web_html"}},
}


def test_mounts_resolve_volume_names_and_binds() -> None:
    assert desired_services("app", MOUNTS_COMPOSE)["app_db"]["mounts"] == [
        ("bind", "/etc/localtime", "/etc/localtime", True),
        ("tmpfs", "", "/run/db", False),
        ("volume", "app_data", "/var/lib/mysql", False),
        ("volume", "web_html", "/www", True),
    ]


@pytest.mark.parametrize(("live_mounts", "differs"), [
    ([{"Type": "volume", "Source": "app_data", "Target": "/var/lib/mysql"},
      {"Type": "volume", "Source": "web_html", "Target": "/www", "ReadOnly": True},
      {"Type": "bind", "Source": "/etc/localtime", "Target": "/etc/localtime", "ReadOnly": True},
      {"Type": "tmpfs", "Target": "/run/db"}], False),
    ([{"Type": "volume", "Source": "app_data", "Target": "/var/lib/mysql"},
      {"Type": "volume", "Source": "web_html", "Target": "/www"},
      {"Type": "bind", "Source": "/etc/localtime", "Target": "/etc/localtime", "ReadOnly": True},
      {"Type": "tmpfs", "Target": "/run/db"}], True),
    ([{"Type": "volume", "Source": "app_data", "Target": "/var/lib/mysql"}], True),
])
def test_mount_differences(live_mounts: list, differs: bool) -> None:
    desired = desired_services("app", MOUNTS_COMPOSE)["app_db"]
    live = live_service({"Spec": {"Name": "app_db", "Mode": {"Replicated": {"Replicas": 1}}, "TaskTemplate": {
        "ContainerSpec": {"Image": "db:latest", "Mounts": live_mounts},
        "Networks": [{"Target": "n1"}]}}}, {"n1": "app_default"})
    assert ("mounts" in compare(desired, live)) is differs


@pytest.mark.parametrize(("volume", "message"), [
    ("/data", "an anonymous volume is not kept"),
    ("./html:/www", "a bind mount on swarm nodes needs an absolute host path"),
])
def test_mount_errors(volume: str, message: str) -> None:
    with pytest.raises(ComposeError, match=message):
        desired_services("s", {"services": {"a": {"image": "x", "volumes": [volume]}}})


SERVICE = {"Spec": {"TaskTemplate": {"ContainerSpec": {"Image": "web:v2", "Env": ["A=2"]}, "ForceUpdate": 0,
                                     "Runtime": "container", "Resources": {}}}}


@pytest.mark.parametrize(("task_spec", "current"), [
    ({"ContainerSpec": {"Image": "web:v2", "Env": ["A=2"]}, "ForceUpdate": 0}, True),
    ({"ContainerSpec": {"Image": "web:v2", "Env": ["A=2"]}, "ForceUpdate": 0, "Resources": {}}, True),
    ({"ContainerSpec": {"Image": "web:v1", "Env": ["A=2"]}, "ForceUpdate": 0}, False),
    ({"ContainerSpec": {"Image": "web:v2", "Env": ["A=2"]}, "ForceUpdate": 1}, False),
    ({}, False),
])
def test_a_task_is_current_when_made_from_the_services_template(task_spec: dict, current: bool) -> None:
    assert task_is_current({"Spec": task_spec}, SERVICE) is current


# -- definitions: every field a compose file sets, compared by content -------------------------------------------
DEFINED = {
    "services": {
        "web": {"image": "nginx:1", "healthcheck": {"test": ["CMD", "true"], "interval": "5s"},
                "configs": [{"source": "site", "target": "/etc/site"}], "networks": ["front"],
                "volumes": ["html:/usr/share/html", "/srv/logs:/logs"],
                "deploy": {"replicas": 2, "labels": ["tier=web"]}},
        "db": {"image": "postgres:16", "environment": {"PASSWORD_FILE": "/run/secrets/pw", "PRICE": "$$5"}},
    },
    "configs": {"site": {"external": True, "name": "web_site_v3"}},
    "networks": {"front": {"driver": "overlay"}, "unused": {"driver": "overlay"}},
    "volumes": {"html": {}},
}


def test_each_service_definition_holds_its_keys_and_the_entries_it_refers_to() -> None:
    definitions = stack.service_definitions(DEFINED)
    web = json.loads(definitions["web"])
    assert web["service"]["healthcheck"] == {"test": ["CMD", "true"], "interval": "5s"}
    assert web["service"]["deploy"]["labels"] == {"tier": "web"}
    assert web["configs"] == {"site": {"external": True, "name": "web_site_v3"}}
    assert web["networks"] == {"front": {"driver": "overlay"}} and web["volumes"] == {"html": {}}
    assert json.loads(definitions["db"])["service"]["environment"]["PRICE"] == "$5"
    assert stack.service_definitions(DEFINED) == definitions, "the same document gives the same text"


@pytest.mark.parametrize(("path", "value", "field"), [
    (("web", "healthcheck", "interval"), "10s", "healthcheck"),
    (("web", "deploy", "resources"), {"reservations": {"memory": "64M"}}, "deploy.resources"),
    (("web", "cap_add"), ["NET_ADMIN"], "cap_add"),
    (("web", "logging"), {"driver": "json-file", "options": {"max-size": "1m"}}, "logging"),
    (("web", "stop_grace_period"), "30s", "stop_grace_period"),
])
def test_a_changed_key_is_named_with_its_values(path: tuple, value, field: str) -> None:
    changed = json.loads(json.dumps(DEFINED))
    target = changed["services"]
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    before = stack.service_definitions(DEFINED)["web"]
    after = stack.service_definitions(changed)["web"]
    changes = stack.definition_changes(before, after)
    assert list(changes) == [field]
    assert changes[field][1] == (value if field != "healthcheck" else {"test": ["CMD", "true"], "interval": "10s"})
    assert stack.definition_changes(after, after) == {}


def test_a_changed_referenced_entry_is_named_and_an_unlabelled_service_is_one_change() -> None:
    changed = json.loads(json.dumps(DEFINED))
    changed["configs"]["site"]["name"] = "web_site_v4"
    changed["networks"]["unused"]["driver"] = "bridge"  # not referenced by web: no change of web
    changes = stack.definition_changes(stack.service_definitions(DEFINED)["web"],
                                       stack.service_definitions(changed)["web"])
    assert list(changes) == ["top-level configs"]
    assert stack.definition_changes(None, stack.service_definitions(DEFINED)["web"]) == {
        "definition": (None, "recorded on the next deploy")}


def test_the_deployed_document_carries_each_definition_with_dollars_escaped() -> None:
    definitions = stack.service_definitions(DEFINED)
    deployed = stack.with_definition_labels(DEFINED, definitions)
    assert deployed["services"]["web"]["deploy"]["labels"] == {"tier": "web", stack.DEFINITION_LABEL: definitions["web"]}
    label = deployed["services"]["db"]["deploy"]["labels"][stack.DEFINITION_LABEL]
    assert "$$5" in label and label.replace("$$", "$") == definitions["db"]
    assert "deploy" not in DEFINED["services"]["db"], "the caller's document is left as it was"
    # Redeploying what was deployed: the label itself is not part of the definition.
    assert stack.service_definitions(deployed) == definitions
