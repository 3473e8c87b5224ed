# -*- coding: utf-8 -*-
# Copyright: swarmforge contributors
# Apache License 2.0
"""The one client every swarmforge module uses.

It owns the AnsibleModule (merging the shared connection options), fails clearly when the Docker SDK for Python or
the daemon is missing, speaks the Engine API through the SDK's transport (so every field is reachable whatever SDK
version the node has: Debian bookworm ships 5.0.3), and turns API errors into advice.
"""

from __future__ import annotations

import ssl
import time
import traceback
from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import docker
    import docker.auth
    from docker.errors import APIError, DockerException, NotFound
    from docker.tls import TLSConfig
    from requests.exceptions import RequestException

    HAS_DOCKER_SDK = True
    DOCKER_SDK_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER_SDK = False
    DOCKER_SDK_IMPORT_ERROR = traceback.format_exc()

    class APIError(Exception):  # type: ignore[no-redef]
        """Stands in so `except APIError` stays valid when the SDK is missing (the module fails before using it)."""

    NotFound = DockerException = RequestException = APIError  # type: ignore[misc,assignment]

API_VERSION = "1.41"  # Docker 20.10, the oldest engine swarmforge supports; newer engines serve it too.
SDK_HINT = "docker (the Docker SDK for Python: python3-docker on Debian/Ubuntu, or pip install docker)"

COMMON_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "docker_host": {"type": "str", "default": "unix:///var/run/docker.sock", "aliases": ["docker_url"]},
    "timeout": {"type": "int", "default": 60},
    "tls": {"type": "bool", "default": False},
    "validate_certs": {"type": "bool", "default": True, "aliases": ["tls_verify"]},
    "ca_path": {"type": "path", "aliases": ["ca_cert", "tls_ca_cert"]},
    "client_cert": {"type": "path", "aliases": ["tls_client_cert", "cert_path"]},
    "client_key": {"type": "path", "aliases": ["tls_client_key", "key_path"]},
}

# A fragment of advice for the API errors that have a usual cause.
ADVICE = (
    ("This node is not a swarm manager", "run this on a swarm manager (a host in swarm_managers)"),
    ("not part of a swarm", "this node is not in a swarm: run the swarm role (site.yml) first"),
    ("swarm is encrypted and needs to be unlocked", "the swarm is autolocked: unlock it with the unlock key "
                                                    "(docker swarm unlock) first"),
    ("update out of sequence", "another change landed at the same time: run again"),
    ("rpc error: code = Unavailable", "the managers have lost quorum: see docs/recover.md"),
    ("The swarm does not have a leader", "the managers have lost quorum: see docs/recover.md"),
)


def advice_for(message: str) -> str:
    for fragment, advice in ADVICE:
        if fragment.lower() in message.lower():
            return f"{message} ({advice})"
    return message


class SwarmClient:
    """AnsibleModule plus a Docker Engine API client for the node's local daemon."""

    def __init__(self, argument_spec: dict[str, Any], **module_kwargs: Any) -> None:
        spec = dict(COMMON_ARGUMENT_SPEC)
        spec.update(argument_spec)
        module_kwargs.setdefault("supports_check_mode", True)
        self.module = AnsibleModule(argument_spec=spec, **module_kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self.diff_mode = self.module._diff
        if not HAS_DOCKER_SDK:
            self.module.fail_json(msg=missing_required_lib(SDK_HINT), exception=DOCKER_SDK_IMPORT_ERROR)
        self.api = self._connect()
        self._info: dict[str, Any] | None = None

    # -- connection -------------------------------------------------------------------------------------------
    def _connect(self) -> "docker.APIClient":
        host = self.params["docker_host"]
        tls: Any = False
        if self.params["tls"] or self.params["ca_path"] or self.params["client_cert"]:
            client_cert = None
            if self.params["client_cert"] or self.params["client_key"]:
                if not (self.params["client_cert"] and self.params["client_key"]):
                    self.fail("client_cert and client_key go together: give both or neither")
                client_cert = (self.params["client_cert"], self.params["client_key"])
            tls = TLSConfig(client_cert=client_cert, ca_cert=self.params["ca_path"],
                            verify=self.params["validate_certs"])
        elif host.startswith("tcp://"):
            self.fail(f"docker_host {host} is TCP without TLS: set tls (with ca_path, client_cert, client_key) or "
                      "use the unix socket; swarmforge does not talk to an unprotected Docker API")
        try:
            api = docker.APIClient(base_url=host, version=API_VERSION, timeout=self.params["timeout"], tls=tls)
            api.ping()
        except (DockerException, RequestException, OSError) as error:
            self.fail(f"the Docker daemon at {host} does not answer ({error}). Is the engine installed and running? "
                      "(roles/docker_engine installs it; `systemctl status docker` shows why it is down)")
        return api

    def fail(self, msg: str, **kwargs: Any) -> None:
        self.module.fail_json(msg=msg, **kwargs)

    # -- raw API, the same on every SDK version ---------------------------------------------------------------
    def call(self, method: str, path: str, *, params: dict | None = None, data: Any = None,
             what: str = "", headers: dict[str, str] | None = None) -> Any:
        """One Engine API call; errors become a failure with advice (NotFound is raised for the caller)."""
        url = self.api._url(path)  # noqa: SLF001 - the SDK's URL builder, stable across versions
        try:
            if method == "GET":
                response = self.api._get(url, params=params)  # noqa: SLF001
            elif method == "POST":
                response = self.api._post_json(url, data=data if data is not None else {}, params=params,  # noqa: SLF001
                                               headers=headers or {})
            elif method == "DELETE":
                response = self.api._delete(url, params=params)  # noqa: SLF001
            else:
                raise ValueError(method)
            return self.api._result(response, json=method == "GET" or (response.text or "").startswith(("{", "[", '"')))  # noqa: SLF001
        except NotFound:
            raise
        except APIError as error:
            explanation = getattr(error, "explanation", None) or str(error)
            self.fail(advice_for(f"{what or path}: {explanation}"))
        return None

    def versioned_update(self, inspect_path: str, make_spec: Callable[[dict], dict], *, what: str,
                         params: dict | None = None, retries: int = 5) -> None:
        """POST <inspect_path>/update with the spec make_spec builds from a fresh inspect, carrying its version
        index; another change landing first ("update out of sequence") means inspect and try again."""
        for attempt in range(retries):
            current = self.call("GET", inspect_path, what=f"{what} (inspect)")
            try:
                self.api._result(self.api._post_json(  # noqa: SLF001 - call() would turn the error into a failure
                    self.api._url(f"{inspect_path}/update"), data=make_spec(current),  # noqa: SLF001
                    params={"version": current["Version"]["Index"], **(params or {})}))
                return
            except APIError as error:
                if "out of sequence" not in str(error) or attempt == retries - 1:
                    self.fail(advice_for(f"{what}: {getattr(error, 'explanation', None) or error}"))
                time.sleep(0.5)

    def registry_auth(self, image: str) -> dict[str, str]:
        """The X-Registry-Auth header of this node's login (docker login) to the registry of `image`, as
        `docker service update --with-registry-auth` sends it with a service's new spec, so that the nodes that run
        its tasks can pull; empty when this node has no login there (the service keeps the one its spec carries)."""
        registry, _ = docker.auth.resolve_repository_name(image.split("@", 1)[0])
        header = docker.auth.get_config_header(self.api, registry)
        return {"X-Registry-Auth": header.decode() if isinstance(header, bytes) else header} if header else {}

    def cluster_answers(self) -> bool:
        """Whether the managers can answer cluster questions: false when no leader can be elected (quorum lost)."""
        try:
            self.api._result(self.api._get(self.api._url("/nodes")), json=True)  # noqa: SLF001
            return True
        except APIError as error:
            text = str(getattr(error, "explanation", "") or error)
            if "leader" in text or "Unavailable" in text or "DeadlineExceeded" in text:
                return False
            raise

    def info(self, refresh: bool = False) -> dict[str, Any]:
        if self._info is None or refresh:
            self._info = self.call("GET", "/info", what="docker info")
        return self._info

    # -- swarm state ---------------------------------------------------------------------------------------
    def local_node(self, refresh: bool = False) -> dict[str, Any]:
        """This node's view of itself: state, node id, cluster id and role, managers and workers alike."""
        swarm = self.info(refresh)["Swarm"]
        state = swarm.get("LocalNodeState", "inactive")
        node = {"state": state, "node_id": swarm.get("NodeID") or None, "cluster_id": None, "role": None,
                "node_addr": swarm.get("NodeAddr") or None,
                "remote_managers": [m.get("Addr") for m in swarm.get("RemoteManagers") or []]}
        if state not in ("active", "locked", "pending"):
            return node
        if swarm.get("ControlAvailable"):
            node["role"] = "manager"
            node["cluster_id"] = (swarm.get("Cluster") or {}).get("ID")
        else:
            identity = self.certificate_identity()
            node["role"] = identity.get("role", "worker")
            node["cluster_id"] = identity.get("cluster_id")
        return node

    def certificate_identity(self) -> dict[str, str]:
        """Cluster id and role from the node's swarm certificate (O=cluster id, OU=swarm-manager|worker, CN=node id).

        Workers cannot ask the API which cluster they are in; their certificate says it.
        """
        path = f"{self.info()['DockerRootDir']}/swarm/certificates/swarm-node.crt"
        try:
            decoded = ssl._ssl._test_decode_cert(path)  # noqa: SLF001 - stdlib's PEM decoder, no extra dependency
        except (OSError, ssl.SSLError):
            return {}
        subject = {key: value for rdn in decoded.get("subject", ()) for key, value in rdn}
        role = {"swarm-manager": "manager", "swarm-worker": "worker"}.get(subject.get("organizationalUnitName", ""))
        return {k: v for k, v in {"cluster_id": subject.get("organizationName"), "role": role,
                                  "node_id": subject.get("commonName")}.items() if v}

    def require_manager(self, action: str) -> None:
        node = self.local_node()
        if node["state"] == "locked":
            self.fail(f"{action}: {advice_for('swarm is encrypted and needs to be unlocked')}")
        if node["role"] != "manager":
            where = "is not in a swarm" if node["state"] != "active" else "is a worker"
            self.fail(f"{action} must run on a swarm manager, and this node {where} "
                      "(delegate the task to a host in swarm_managers)")

    def inspect_swarm(self) -> dict[str, Any]:
        return self.call("GET", "/swarm", what="swarm inspect")

    def nodes(self) -> list[dict[str, Any]]:
        return self.call("GET", "/nodes", what="node ls") or []


def normalize_node(node: dict[str, Any]) -> dict[str, Any]:
    """The fields of a node a person (and a playbook) cares about."""
    spec, status, manager = node.get("Spec", {}), node.get("Status", {}), node.get("ManagerStatus") or {}
    return {
        "id": node["ID"],
        "hostname": node.get("Description", {}).get("Hostname"),
        "address": status.get("Addr"),
        "role": spec.get("Role"),
        "availability": spec.get("Availability"),
        "state": status.get("State"),
        "labels": spec.get("Labels") or {},
        "leader": bool(manager.get("Leader")),
        "manager_reachability": manager.get("Reachability"),
        "manager_addr": manager.get("Addr"),
        "engine_version": node.get("Description", {}).get("Engine", {}).get("EngineVersion"),
        "version": node.get("Version", {}).get("Index"),
    }


def raft_managers(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The managers that are Raft members (they have a manager status). After a force-new-cluster the lost managers
    keep their manager role in the node list but are no longer members: they count for nothing in a quorum."""
    return [n for n in nodes if n.get("role") == "manager" and n.get("manager_reachability") is not None]


def quorum_after(nodes: list[dict[str, Any]], leaving_id: str) -> tuple[bool, str]:
    """Whether the managers keep a majority if node leaving_id stops being a manager, with the arithmetic."""
    managers = raft_managers(nodes)
    reachable = [n for n in managers if n.get("manager_reachability") == "reachable"]
    leaving = next((n for n in managers if n["id"] == leaving_id), None)
    if leaving is None:
        return True, "the node is not a manager"
    remaining = len(managers) - 1
    remaining_reachable = len(reachable) - (1 if leaving.get("manager_reachability") == "reachable" else 0)
    needed = remaining // 2 + 1
    arithmetic = (f"{len(managers)} managers ({len(reachable)} reachable) -> {remaining} managers "
                  f"({remaining_reachable} reachable); a majority of {remaining} is {needed}")
    if remaining == 0:
        return False, f"{arithmetic}: it is the last manager"
    if remaining_reachable < needed:
        return False, f"{arithmetic}: quorum would be lost"
    return True, arithmetic
