# Copyright: swarmforge contributors
# Apache License 2.0
"""The one client every swarmforge module uses.

It owns the AnsibleModule (merging the shared connection options), fails clearly when the Docker SDK for Python or
the daemon is missing, speaks the Engine API through the SDK's transport (so every field is reachable whatever SDK
version the node has: Debian bookworm ships 5.0.3), and turns API errors into advice.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_certificate import certificate_subject

try:
    import docker
    import docker.auth
    import docker.errors
    from docker.errors import APIError, DockerException, NotFound
    from docker.tls import TLSConfig
    from requests.exceptions import HTTPError, RequestException

    HAS_DOCKER_SDK = True
    DOCKER_SDK_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER_SDK = False
    DOCKER_SDK_IMPORT_ERROR = traceback.format_exc()

    class APIError(Exception):  # type: ignore[no-redef]
        """Stands in so `except APIError` stays valid when the SDK is missing (the module fails before using it)."""

    class NotFound(APIError):  # type: ignore[no-redef]  # noqa: N818 - the SDK's name, which it stands in for
        """Stands in for the SDK's NotFound, a kind of APIError as there."""

    DockerException = RequestException = HTTPError = APIError  # type: ignore[misc,assignment]

API_VERSION = "1.41"  # Docker 20.10, the oldest engine swarmforge supports; newer engines serve it too.
SDK_HINT = "docker (the Docker SDK for Python: python3-docker on Debian/Ubuntu, or pip install docker)"

COMMON_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "docker_host": {"type": "str", "default": "unix:///var/run/docker.sock", "aliases": ["docker_url"],
                    "fallback": (env_fallback, ["DOCKER_HOST"])},
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
    def _connect(self) -> docker.APIClient:
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
    def request(self, method: str, path: str, *, params: dict | None = None, data: Any = None,
                headers: dict[str, str] | None = None) -> Any:
        """One Engine API request at the pinned API version, through the SDK client's public interface (a
        requests.Session: base_url, api_version, timeout and request are public on every SDK version), so that every
        field of the API is reachable whatever SDK the node has. Returns the decoded answer (None when empty); an
        HTTP error is raised as the SDK's own APIError (NotFound for 404)."""
        kwargs: dict[str, Any] = {"params": params, "headers": dict(headers or {}), "timeout": self.api.timeout}
        if method == "POST":
            # Top-level nulls are left out, as the SDK does for every JSON body it posts.
            body = {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data
            kwargs["data"] = json.dumps(body if body is not None else {})
            kwargs["headers"]["Content-Type"] = "application/json"
        response = self.api.request(method, f"{self.api.base_url}/v{self.api.api_version}{path}", **kwargs)
        try:
            response.raise_for_status()
        except HTTPError as error:
            raise docker.errors.create_api_error_from_http_exception(error) from None
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def call(self, method: str, path: str, *, params: dict | None = None, data: Any = None,
             what: str = "", headers: dict[str, str] | None = None) -> Any:
        """One Engine API call; errors become a failure with advice (NotFound is raised for the caller)."""
        try:
            return self.request(method, path, params=params, data=data, headers=headers)
        except NotFound:
            raise
        except APIError as error:
            explanation = getattr(error, "explanation", None) or str(error)
            self.fail(advice_for(f"{what or path}: {explanation}"))
        return None

    def versioned_update(self, inspect_path: str, make_spec: Callable[[dict], dict], *, what: str,
                         params: dict | None = None, headers: Callable[[dict], dict] | None = None,
                         retries: int = 5) -> None:
        """POST <inspect_path>/update with the spec make_spec builds from a fresh inspect, carrying its version
        index (and the headers `headers` makes from that spec); another change landing first ("update out of
        sequence") means inspect and try again."""
        for attempt in range(retries):
            current = self.call("GET", inspect_path, what=f"{what} (inspect)")
            spec = make_spec(current)
            try:
                self.request("POST", f"{inspect_path}/update", data=spec,
                             params={"version": current["Version"]["Index"], **(params or {})},
                             headers=headers(spec) if headers else None)
                return
            except APIError as error:
                if "out of sequence" not in str(error) or attempt == retries - 1:
                    self.fail(advice_for(f"{what}: {getattr(error, 'explanation', None) or error}"))
                time.sleep(0.5)

    def registry_auth(self, image: str) -> dict[str, str]:
        """The X-Registry-Auth header of this node's login (docker login) to the registry of `image`, as
        `docker service update --with-registry-auth` sends it with a service's new spec, so that the nodes that run
        its tasks can pull; empty when this node has no login there (the service keeps the one its spec carries)."""
        if not image:
            return {}
        registry = docker.auth.resolve_repository_name(image.split("@", 1)[0])[0]
        header = docker.auth.get_config_header(self.api, registry)
        return {"X-Registry-Auth": header.decode() if isinstance(header, bytes) else header} if header else {}

    def cluster_answers(self) -> bool:
        """Whether the managers can answer cluster questions: false when no leader can be elected (quorum lost)."""
        try:
            self.request("GET", "/nodes")
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
            with open(path, encoding="ascii") as handle:
                subject = certificate_subject(handle.read())
        except (OSError, ValueError):
            return {}
        role = {"swarm-manager": "manager", "swarm-worker": "worker"}.get(subject.get("OU", ""))
        return {k: v for k, v in {"cluster_id": subject.get("O"), "role": role,
                                  "node_id": subject.get("CN")}.items() if v}

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


def wait_until(condition: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    """Ask condition() until it answers something true or the deadline (timeout seconds from now) passes, every
    `every` seconds; returns its last answer, false when time ran out. The one deadline loop of the modules: what
    to do when it ran out is the caller's, which knows what was waited for."""
    deadline = time.monotonic() + timeout
    while True:
        answer = condition()
        if answer or time.monotonic() >= deadline:
            return answer
        time.sleep(max(0.0, min(every, deadline - time.monotonic())))


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
