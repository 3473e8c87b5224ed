# Copyright: swarmforge contributors
# Apache License 2.0
"""Compose files and live swarm services, normalised into one comparable shape (used by swarm_stack).

`desired_services` turns a compose document into {service name: {field: value}}; `live_service` turns a service as
the Engine API returns it into the same fields. Only the fields a compose service sets are compared, except the
ones that are whole by nature (command, environment, ports, networks, secrets, configs), which the compose defines
entirely. Everything here is pure: no API, no Ansible.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from typing import Any

STACK_LABEL = "com.docker.stack.namespace"
IMAGE_LABEL = "com.docker.stack.image"
# A service label holding the service's compose definition as last deployed (normalised JSON): any field a compose
# file can set is compared through it, the ones the live comparison does not know included.
DEFINITION_LABEL = "io.swarmforge.stack.definition"
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$", re.I)
SIZE_UNIT = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
DOLLAR = re.compile(r"\$(\$|\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)")


class ComposeError(ValueError):
    """A compose document swarmforge cannot read; the message says what to change."""


# -- small conversions ------------------------------------------------------------------------------------------
def duration_ns(value: Any) -> int:
    """Compose durations ("10s", "1m30s", 5) as nanoseconds, as the API stores them."""
    if isinstance(value, (int, float)):
        return int(value * 10**9)
    text = str(value).strip()
    parts = DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ComposeError(f"duration {value!r}: use a number with a unit, e.g. 10s, 1m30s or 500ms")
    return int(sum(float(number) * UNIT_NS[unit] for number, unit in parts))


def size_bytes(value: Any) -> int:
    if isinstance(value, int):
        return value
    match = SIZE.match(str(value).strip())
    if not match:
        raise ComposeError(f"size {value!r}: use a number with a unit, e.g. 512M or 1G")
    return int(float(match.group(1)) * SIZE_UNIT[match.group(2).lower()])


def image_reference(image: str) -> str:
    """An image without its digest and with an explicit tag, as a comparison key."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def command_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def environment_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, dict):
        return sorted(f"{key}={'' if item is None else item}" for key, item in value.items())
    return sorted(str(item) for item in value)


def label_map(value: Any) -> dict[str, str]:
    if not value:
        return {}
    if isinstance(value, dict):
        return {str(key): "" if item is None else str(item) for key, item in value.items()}
    return dict((str(item).split("=", 1) + [""])[:2] for item in value)


def unescape(value: Any, where: str = "compose") -> Any:
    """The document as stack deploy will see it: `$$` is a literal `$`; a variable is refused, because stack deploy
    would fill it from the environment of whoever runs it, which no comparison can know."""
    if isinstance(value, dict):
        return {key: unescape(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [unescape(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        if match.group(1) == "$":
            return "$"
        raise ComposeError(f"{where}: ${match.group(1)} would be filled from the environment by stack deploy; "
                           "render the compose with Jinja instead, or write $$ for a literal $")
    return DOLLAR.sub(replace, value)


def deep_merge(base: Any, override: Any) -> Any:
    """Compose files merged in order: mappings key by key, everything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


# -- compose side -----------------------------------------------------------------------------------------------
def _resource_name(stack: str, kind: str, key: str, top: dict) -> str:
    """The name swarm gives a network, secret or config that a compose file refers to by key."""
    definition = (top.get(kind) or {}).get(key) or {}
    if definition.get("name"):
        return definition["name"]
    external = definition.get("external")
    if isinstance(external, dict) and external.get("name"):
        return external["name"]
    return key if external else f"{stack}_{key}"


def _ports(value: list) -> list[tuple]:
    ports = []
    for entry in value or []:
        if isinstance(entry, dict):
            ports.append((int(entry["published"]) if entry.get("published") is not None else None,
                          int(entry["target"]), entry.get("protocol", "tcp"), entry.get("mode", "ingress")))
            continue
        text, _slash, protocol = str(entry).partition("/")
        pieces = text.split(":")
        if len(pieces) == 1:
            ports.append((None, int(pieces[0]), protocol or "tcp", "ingress"))
        elif len(pieces) == 2:
            ports.append((int(pieces[0]), int(pieces[1]), protocol or "tcp", "ingress"))
        else:
            raise ComposeError(f"port {entry!r}: a host IP cannot be given to a swarm service; use "
                               "published:target or the long syntax with mode: host")
    return sorted(ports, key=lambda port: (port[1], port[0] or 0, port[2]))


def _files(kind: str, stack: str, value: list, top: dict) -> list[tuple]:
    """Secrets or configs as (name, target, mode)."""
    files = []
    for entry in value or []:
        source = entry if isinstance(entry, str) else entry["source"]
        target = source if isinstance(entry, str) else entry.get("target", source)
        default_mode = 0o444
        mode = default_mode if isinstance(entry, str) else entry.get("mode", default_mode)
        if isinstance(mode, str):
            mode = int(mode, 8)
        if kind == "configs" and not target.startswith("/"):
            target = f"/{target}"
        files.append((_resource_name(stack, kind, source, top), target, mode))
    return sorted(files)


def _mounts(stack: str, value: list, top: dict) -> list[tuple]:
    """Volumes as (type, source, target, read_only): named volumes by their swarm name, host paths as binds."""
    mounts = []
    for entry in value or []:
        if isinstance(entry, dict):
            kind, source = entry.get("type", "volume"), entry.get("source") or ""
            target, read_only = entry["target"], bool(entry.get("read_only", False))
        else:
            pieces = str(entry).split(":")
            if len(pieces) == 1:
                raise ComposeError(f"volume {entry!r}: an anonymous volume is not kept across task restarts; "
                                   "give it a name (name:/path) or use the long syntax with type: tmpfs")
            source, target = pieces[0], pieces[1]
            read_only = len(pieces) > 2 and "ro" in pieces[2].split(",")
            kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
        if kind == "bind" and not source.startswith("/"):
            raise ComposeError(f"volume {entry!r}: a bind mount on swarm nodes needs an absolute host path")
        if kind == "volume" and source:
            source = _resource_name(stack, "volumes", source, top)
        mounts.append((kind, source, target, read_only))
    return sorted(mounts, key=lambda mount: mount[2])


def _policy(value: dict | None, fields: dict[str, str]) -> dict:
    result = {}
    for compose_key, api_key in fields.items():
        if value and compose_key in value:
            item = value[compose_key]
            result[api_key] = duration_ns(item) if api_key in ("Delay", "Monitor", "Window") else item
    return result


UPDATE_FIELDS = {"parallelism": "Parallelism", "delay": "Delay", "failure_action": "FailureAction",
                 "monitor": "Monitor", "max_failure_ratio": "MaxFailureRatio", "order": "Order"}
RESTART_FIELDS = {"condition": "Condition", "delay": "Delay", "max_attempts": "MaxAttempts", "window": "Window"}


def desired_service(stack: str, name: str, service: dict, top: dict) -> dict:
    if "image" not in service:
        raise ComposeError(f"service {name}: a swarm service needs an image (build: is not used by stack deploy)")
    deploy = service.get("deploy") or {}
    mode = deploy.get("mode", "replicated")
    networks = service.get("networks", ["default"])
    network_keys = list(networks) if isinstance(networks, dict) else list(networks)
    desired: dict[str, Any] = {
        "image": image_reference(service["image"]),
        "command": command_list(service.get("command")),
        "entrypoint": command_list(service.get("entrypoint")),
        "environment": environment_list(service.get("environment")),
        "mode": mode,
        "ports": _ports(service.get("ports")),
        "networks": sorted(_resource_name(stack, "networks", key, top) for key in network_keys),
        "secrets": _files("secrets", stack, service.get("secrets"), top),
        "configs": _files("configs", stack, service.get("configs"), top),
        "mounts": _mounts(stack, service.get("volumes"), top),
        "service_labels": {k: v for k, v in label_map(deploy.get("labels")).items() if k != DEFINITION_LABEL},
        "container_labels": label_map(service.get("labels")),
    }
    if mode == "replicated":
        desired["replicas"] = int(deploy.get("replicas", 1))
    for key, fields in (("update_config", UPDATE_FIELDS), ("rollback_config", UPDATE_FIELDS),
                        ("restart_policy", RESTART_FIELDS)):
        if key in deploy:
            desired[key] = _policy(deploy[key], fields)
    placement = deploy.get("placement") or {}
    if "constraints" in placement:
        desired["constraints"] = sorted(placement["constraints"])
    if "preferences" in placement:
        desired["preferences"] = [pref["spread"] for pref in placement["preferences"]]
    if "max_replicas_per_node" in placement:
        desired["max_replicas_per_node"] = int(placement["max_replicas_per_node"])
    if "endpoint_mode" in deploy:
        desired["endpoint_mode"] = deploy["endpoint_mode"]
    limits = (deploy.get("resources") or {}).get("limits") or {}
    if "cpus" in limits:
        desired["cpu_limit"] = int(float(limits["cpus"]) * 10**9)
    if "memory" in limits:
        desired["memory_limit"] = size_bytes(limits["memory"])
    for key in ("hostname", "user", "working_dir"):
        if key in service:
            desired[key] = service[key]
    return desired


def desired_services(stack: str, compose: dict) -> dict[str, dict]:
    compose = unescape(compose)
    services = compose.get("services") or {}
    if not services:
        raise ComposeError("the compose document has no services")
    return {f"{stack}_{name}": desired_service(stack, name, service or {}, compose)
            for name, service in services.items()}


def desired_networks(stack: str, compose: dict) -> list[str]:
    """The networks stack deploy creates (not the external ones)."""
    used = {key for service in (compose.get("services") or {}).values()
            for key in (service or {}).get("networks", ["default"])}
    declared = compose.get("networks") or {}
    return sorted(_resource_name(stack, "networks", key, compose) for key in used
                  if not (declared.get(key) or {}).get("external"))


def _referenced(service: dict) -> dict[str, list[str]]:
    """The top-level keys (networks, configs, secrets, volumes) a compose service refers to."""
    networks = service.get("networks", ["default"])
    volumes = []
    for entry in service.get("volumes") or []:
        source = entry.get("source") if isinstance(entry, dict) else str(entry).split(":", maxsplit=1)[0]
        if source and not str(source).startswith(("/", ".", "~")):
            volumes.append(str(source))
    return {
        "networks": sorted(networks if isinstance(networks, (list, dict)) else []),
        "configs": sorted(e if isinstance(e, str) else e["source"] for e in service.get("configs") or []),
        "secrets": sorted(e if isinstance(e, str) else e["source"] for e in service.get("secrets") or []),
        "volumes": sorted(volumes),
    }


def service_definitions(compose: dict) -> dict[str, str]:
    """{compose service key: its definition as JSON} with the top-level entries it refers to, keys sorted: the content
    that decides whether the service must be deployed again, whatever fields it sets."""
    compose = unescape(compose)
    definitions = {}
    for name, service in (compose.get("services") or {}).items():
        service = copy.deepcopy(service or {})
        deploy = service.get("deploy") or {}
        if "labels" in deploy:
            deploy["labels"] = {k: v for k, v in label_map(deploy["labels"]).items() if k != DEFINITION_LABEL}
            if not deploy["labels"]:
                del deploy["labels"]
        if "deploy" in service and not deploy:
            del service["deploy"]  # empty, or only the definition label: as if not written
        document = {"service": service}
        for kind, keys in _referenced(service).items():
            entries = {key: (compose.get(kind) or {}).get(key) for key in keys if key in (compose.get(kind) or {})}
            if entries:
                document[kind] = entries
        definitions[name] = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return definitions


# Definition keys whose whole meaning the live comparison (compare) already checks against the running service:
# for these the live comparison decides, so that a key written in another but equal form (environment as a list or
# a mapping) deploys nothing. Every other key (healthcheck, logging, cap_add, deploy.resources, ...) is decided by
# the definition.
COMPARED_KEYS = frozenset({
    "image", "command", "entrypoint", "environment", "ports", "networks", "secrets", "configs", "volumes", "labels",
    "hostname", "user", "working_dir", "deploy.replicas", "deploy.mode", "deploy.update_config",
    "deploy.rollback_config", "deploy.restart_policy", "deploy.placement", "deploy.endpoint_mode", "deploy.labels",
})


def definition_changes(live: str | None, wanted: str) -> dict[str, tuple]:
    """What differs between the definition a service was deployed with (its label; None when it has none) and the
    wanted one, as {field: (before, after)}: the service's own keys (deploy's one level down), and the referenced
    top-level entries. A service without the label (deployed by hand or before swarmforge kept it) shows as one
    change of the whole definition."""
    after = json.loads(wanted)
    if live is None:
        return {"definition": (None, "recorded on the next deploy")}
    try:
        before = json.loads(live)
    except ValueError:
        return {"definition": (live, after)}
    changes = {}
    old_service, new_service = before.get("service") or {}, after.get("service") or {}
    for key in sorted(set(old_service) | set(new_service)):
        if key == "deploy":
            old_deploy, new_deploy = old_service.get(key) or {}, new_service.get(key) or {}
            for sub_key in sorted(set(old_deploy) | set(new_deploy)):
                if old_deploy.get(sub_key) != new_deploy.get(sub_key):
                    changes[f"deploy.{sub_key}"] = (old_deploy.get(sub_key), new_deploy.get(sub_key))
        elif old_service.get(key) != new_service.get(key):
            changes[key] = (old_service.get(key), new_service.get(key))
    for kind in ("networks", "configs", "secrets", "volumes"):
        if before.get(kind) != after.get(kind):
            changes[f"top-level {kind}"] = (before.get(kind), after.get(kind))
    return changes


def with_definition_labels(compose: dict, definitions: dict[str, str]) -> dict:
    """The compose document to deploy: each service's deploy.labels carry its definition."""
    compose = copy.deepcopy(compose)
    for name, service in (compose.get("services") or {}).items():
        service = service if service is not None else {}
        compose["services"][name] = service
        deploy = service.setdefault("deploy", {})
        labels = label_map(deploy.get("labels"))
        # stack deploy fills $NAME from its environment: a literal $ in the definition is written $$.
        labels[DEFINITION_LABEL] = definitions[name].replace("$", "$$")
        deploy["labels"] = labels
    return compose


# -- live side ---------------------------------------------------------------------------------------------------
def live_service(service: dict, network_names: dict[str, str]) -> dict:
    spec = service["Spec"]
    task = spec.get("TaskTemplate", {})
    container = task.get("ContainerSpec", {})
    endpoint = spec.get("EndpointSpec") or {}
    placement = task.get("Placement") or {}
    mode = "global" if "Global" in spec.get("Mode", {}) else "replicated"
    live: dict[str, Any] = {
        "image": image_reference(container.get("Image", "")),
        "command": container.get("Args"),
        "entrypoint": container.get("Command"),
        "environment": sorted(container.get("Env") or []),
        "mode": mode,
        "ports": sorted(((p.get("PublishedPort"), p["TargetPort"], p.get("Protocol", "tcp"),
                          p.get("PublishMode", "ingress")) for p in endpoint.get("Ports") or []),
                        key=lambda port: (port[1], port[0] or 0, port[2])),
        "networks": sorted(network_names.get(n["Target"], n["Target"]) for n in task.get("Networks") or []),
        "secrets": sorted((s["SecretName"], s["File"]["Name"], s["File"]["Mode"]) for s in container.get("Secrets") or []),
        "configs": sorted((c["ConfigName"], c["File"]["Name"], c["File"]["Mode"]) for c in container.get("Configs") or []),
        "mounts": sorted(((m.get("Type", "volume"), m.get("Source", ""), m["Target"], bool(m.get("ReadOnly", False)))
                          for m in container.get("Mounts") or []), key=lambda mount: mount[2]),
        "service_labels": {k: v for k, v in (spec.get("Labels") or {}).items()
                           if k not in (STACK_LABEL, IMAGE_LABEL, DEFINITION_LABEL)},
        "container_labels": {k: v for k, v in (container.get("Labels") or {}).items() if k != STACK_LABEL},
        "update_config": spec.get("UpdateConfig") or {},
        "rollback_config": spec.get("RollbackConfig") or {},
        "restart_policy": task.get("RestartPolicy") or {},
        "constraints": sorted(placement.get("Constraints") or []),
        "preferences": [p.get("Spread", {}).get("SpreadDescriptor") for p in placement.get("Preferences") or []],
        "max_replicas_per_node": placement.get("MaxReplicas", 0),
        "endpoint_mode": endpoint.get("Mode", "vip"),
        "cpu_limit": (task.get("Resources") or {}).get("Limits", {}).get("NanoCPUs", 0),
        "memory_limit": (task.get("Resources") or {}).get("Limits", {}).get("MemoryBytes", 0),
        "hostname": container.get("Hostname"),
        "user": container.get("User"),
        "working_dir": container.get("Dir"),
    }
    if mode == "replicated":
        live["replicas"] = spec["Mode"]["Replicated"].get("Replicas", 1)
    return live


def task_is_current(task: dict, service: dict) -> bool:
    """Whether a task was made from the service's current task template. Swarm copies the template into each task,
    all but the service-level Runtime; a rolling update is over when every running task is current."""
    spec = task.get("Spec") or {}
    template = service["Spec"].get("TaskTemplate") or {}
    return all((spec.get(key) or None) == (value or None) for key, value in template.items() if key != "Runtime")


def compare(desired: dict, live: dict) -> dict[str, tuple]:
    """Fields that differ, as {field: (live, desired)}; policies compare only the keys the compose sets."""
    differences = {}
    for field, wanted in desired.items():
        have = live.get(field)
        if field in ("update_config", "rollback_config", "restart_policy"):
            have = {key: (have or {}).get(key) for key in wanted}
        elif field in ("command", "entrypoint") and wanted is None:
            continue  # the image's own default: nothing asked
        if _canonical(have) != _canonical(wanted):
            differences[field] = (have, wanted)
    return differences


def _canonical(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in sorted(value.items())}
    return value
