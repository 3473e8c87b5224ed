#!/usr/bin/python
# Copyright: swarmforge contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_info
short_description: Facts about the swarm this node is in
description:
  - Reports this node's swarm membership (state, node ID, cluster ID, role) on any node.
  - On a manager it also reports the cluster (ID, creation, settings), every node by NodeID with hostname, address,
    role, availability, state and leadership, and the join tokens.
  - On a worker the cluster ID comes from the node's swarm certificate, since the API answers cluster questions on
    managers only.
  - On a manager whose swarm has lost quorum (no leader can be elected) it reports C(quorum_lost) instead of failing,
    so a recovery can decide what to do.
author: swarmforge contributors (@swarmforge)
extends_documentation_fragment: [swarmforge.swarm.swarmforge_docker]
options:
  include_tokens:
    description:
      - Return the worker and manager join tokens (managers only). Register the result with C(no_log) when set.
    type: bool
    default: false
  include_unlock_key:
    description:
      - Return the autolock unlock key when autolock is on (managers only). Register the result with C(no_log).
    type: bool
    default: false
  include_services:
    description:
      - Return every service with its desired and running tasks, image, stack, update state, published ports and
        the nodes its running tasks are on (managers only).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Shows what differs, before and after.
  idempotent:
    support: full
    description: Run again with the same arguments, it changes nothing.
"""

EXAMPLES = r"""
- name: What this node knows of its swarm
  swarm_info:
  register: swarm

- name: Join tokens, from a manager
  swarm_info:
    include_tokens: true
  delegate_to: "{{ groups['swarm_managers'][0] }}"
  register: cluster
  no_log: true
"""

RETURN = r"""
local:
  description: This node's membership.
  returned: always
  type: dict
  contains:
    state: {description: "inactive, pending, active, error or locked.", type: str}
    node_id: {description: "This node's NodeID, or null outside a swarm.", type: str}
    cluster_id: {description: "The ClusterID of its swarm, or null.", type: str}
    role: {description: "manager or worker, or null outside a swarm.", type: str}
    node_addr: {description: The address this node advertises., type: str}
    remote_managers: {description: Manager addresses this node knows., type: list, elements: str}
is_manager:
  description: Whether this node is a manager that can answer cluster questions.
  returned: always
  type: bool
cluster:
  description: The cluster, on managers.
  returned: when is_manager
  type: dict
  contains:
    id: {description: ClusterID., type: str}
    created_at: {description: Creation time., type: str}
    autolock: {description: Whether managers are autolocked., type: bool}
    root_rotation_in_progress:
      description: A root CA rotation is under way; the join tokens change (they carry the root's digest) when it ends.
      type: bool
    task_history_limit: {description: Task history retention., type: int}
    node_cert_expiry: {description: Node certificate lifetime in nanoseconds., type: int}
    data_path_port: {description: VXLAN port., type: int}
    default_addr_pool: {description: Address pools for overlay networks., type: list, elements: str}
    subnet_size: {description: Subnet size for overlay networks., type: int}
nodes:
  description: Every node, by NodeID.
  returned: when is_manager
  type: list
  elements: dict
  sample:
    - {id: "x1y2", hostname: manager1, address: 172.28.88.11, role: manager, availability: active, state: ready,
       leader: true, manager_reachability: reachable, labels: {}, engine_version: "20.10.24+dfsg1"}
managers:
  description:
    - Summary of the managers that are Raft members (total, reachable, leader hostname, quorum size, has_quorum).
      Entries left with the manager role after a force-new-cluster are not members and not counted.
  returned: when is_manager
  type: dict
quorum_lost:
  description: This node is a manager but no leader answers (the managers lost quorum); cluster facts are missing.
  returned: always
  type: bool
services:
  description:
    - Every service, sorted by name. C(converged) is true when every desired task runs and no update or rollback is
      in progress.
  returned: when is_manager and include_services
  type: list
  elements: dict
  sample:
    - {name: web_web, stack: web, mode: replicated, image: "172.28.88.31:5000/swarmforge/web:v1", desired: 3,
       running: 3, converged: true, update_state: completed, ports: ["8080:80/tcp (host)"],
       nodes: [manager2, worker1, worker2]}
join_tokens:
  description: Worker and manager join tokens. Secret.
  returned: when is_manager and include_tokens
  type: dict
unlock_key:
  description: The autolock unlock key. Secret.
  returned: when is_manager, include_unlock_key and autolock is on
  type: str
"""

import json

from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_docker import SwarmClient, normalize_node, raft_managers


def cluster_facts(swarm: dict) -> dict:
    spec = swarm.get("Spec", {})
    return {
        "id": swarm.get("ID"),
        "created_at": swarm.get("CreatedAt"),
        "autolock": bool(spec.get("EncryptionConfig", {}).get("AutoLockManagers")),
        "root_rotation_in_progress": bool(swarm.get("RootRotationInProgress")),
        "task_history_limit": spec.get("Orchestration", {}).get("TaskHistoryRetentionLimit"),
        "node_cert_expiry": spec.get("CAConfig", {}).get("NodeCertExpiry"),
        "data_path_port": swarm.get("DataPathPort"),
        "default_addr_pool": swarm.get("DefaultAddrPool"),
        "subnet_size": swarm.get("SubnetSize"),
    }


def manager_summary(nodes: list[dict]) -> dict:
    managers = raft_managers(nodes)
    reachable = [n for n in managers if n["manager_reachability"] == "reachable"]
    leader = next((n["hostname"] for n in managers if n["leader"]), None)
    return {"total": len(managers), "reachable": len(reachable), "leader": leader,
            "quorum": len(managers) // 2 + 1, "has_quorum": len(reachable) >= len(managers) // 2 + 1}


def service_facts(services: list[dict], tasks: list[dict], hostnames: dict[str, str]) -> list[dict]:
    """Services as a person reads them: desired against running tasks, and where those run."""
    running_on: dict[str, set[str]] = {}
    for task in tasks:
        if task.get("Status", {}).get("State") == "running":
            running_on.setdefault(task["ServiceID"], set()).add(hostnames.get(task.get("NodeID", ""), "?"))
    facts = []
    for service in services:
        spec = service["Spec"]
        status = service.get("ServiceStatus") or {}
        ports = [f"{port.get('PublishedPort', '')}:{port['TargetPort']}/{port.get('Protocol', 'tcp')} "
                 f"({port.get('PublishMode', 'ingress')})"
                 for port in (spec.get("EndpointSpec") or {}).get("Ports") or []]
        facts.append({
            "name": spec["Name"],
            "stack": (spec.get("Labels") or {}).get("com.docker.stack.namespace"),
            "mode": "global" if "Global" in spec.get("Mode", {}) else "replicated",
            "image": spec["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0],
            "desired": status.get("DesiredTasks", 0),
            "running": status.get("RunningTasks", 0),
            "converged": (status.get("RunningTasks", 0) == status.get("DesiredTasks", 0)
                          and (service.get("UpdateStatus") or {}).get("State") not in ("updating", "rollback_started")),
            "update_state": (service.get("UpdateStatus") or {}).get("State"),
            "ports": ports,
            "nodes": sorted(running_on.get(service["ID"], set())),
        })
    return sorted(facts, key=lambda fact: fact["name"])


ARGUMENT_SPEC = {
    "include_tokens": {"type": "bool", "default": False},
    "include_unlock_key": {"type": "bool", "default": False},
    "include_services": {"type": "bool", "default": False},
}


def main() -> None:
    client = SwarmClient(ARGUMENT_SPEC)
    local = client.local_node()
    result = {"changed": False, "local": local, "quorum_lost": False,
              "is_manager": local["role"] == "manager" and local["state"] == "active"}
    if result["is_manager"] and not client.cluster_answers():
        result["quorum_lost"] = True
    elif result["is_manager"]:
        swarm = client.inspect_swarm()
        nodes = [normalize_node(node) for node in client.nodes()]
        result.update(cluster=cluster_facts(swarm), nodes=nodes, managers=manager_summary(nodes))
        if client.params["include_tokens"]:
            result["join_tokens"] = {"worker": swarm["JoinTokens"]["Worker"], "manager": swarm["JoinTokens"]["Manager"]}
        if client.params["include_unlock_key"] and result["cluster"]["autolock"]:
            result["unlock_key"] = client.call("GET", "/swarm/unlockkey", what="unlock key").get("UnlockKey")
        if client.params["include_services"]:
            result["services"] = service_facts(
                client.call("GET", "/services", params={"status": "true"}, what="service ls") or [],
                client.call("GET", "/tasks", params={"filters": json.dumps({"desired-state": ["running"]})},
                            what="task ls") or [],
                {node["id"]: node["hostname"] for node in nodes})
    client.module.exit_json(**result)


if __name__ == "__main__":
    main()
