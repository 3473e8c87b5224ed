#!/usr/bin/python
# Copyright: swarmforge contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_node
short_description: Labels, availability and role of a swarm node, and its removal, with quorum arithmetic
description:
  - Runs on a manager and manages one node, found by NodeID or hostname.
  - Labels are merged (default), made exact, or removed. Availability is active, pause or drain; with
    I(wait_drained) the module waits until no task of a service runs on the node.
  - Every demote and remove first checks the managers' quorum and refuses when fewer reachable managers than a
    majority would remain, or none at all; the message shows the arithmetic.
  - A promotion returns once the node is a reachable manager; a demotion once the node has stayed Ready as a worker
    for three heartbeat periods (its agent registers again, through another manager).
author: swarmforge contributors (@swarmforge)
extends_documentation_fragment: [swarmforge.swarm.swarmforge_docker]
options:
  node:
    description: NodeID or hostname of the node.
    type: str
    required: true
  state:
    description: C(present) manages the node; C(absent) removes it from the swarm.
    type: str
    choices: [present, absent]
    default: present
  labels:
    description: Node labels.
    type: dict
  labels_state:
    description: C(merge) adds and updates I(labels) and keeps others; C(replace) makes the labels exactly I(labels).
    type: str
    choices: [merge, replace]
    default: merge
  labels_to_remove:
    description: Label keys to remove.
    type: list
    elements: str
  availability:
    description: Scheduling availability.
    type: str
    choices: [active, pause, drain]
  role:
    description: The node's role; a demotion is refused when it would break quorum.
    type: str
    choices: [manager, worker]
  wait_drained:
    description: With I(availability=drain), wait until no service task runs on the node.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for a drain or a role change to complete.
    type: int
    default: 300
  force:
    description:
      - With C(state=absent), remove a node that is still up (it should leave first) or a dead manager. The quorum
        check still applies.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Compares and reports what would change, changing nothing.
  diff_mode:
    support: full
    description: Labels, availability and role before and after.
  idempotent:
    support: full
    description: Run again with the same arguments, it changes nothing.
seealso:
  - module: swarmforge.swarm.swarm_membership
  - module: swarmforge.swarm.swarm_info
"""

EXAMPLES = r"""
- name: Label a node and make sure it takes tasks
  swarm_node:
    node: worker1
    labels: {zone: a, storage: ssd}
    availability: active
  delegate_to: "{{ groups['swarm_managers'][0] }}"

- name: Drain a node and wait until its tasks moved
  swarm_node:
    node: worker2
    availability: drain
    wait_timeout: 600

- name: Demote a manager (refused if quorum would be lost)
  swarm_node:
    node: manager3
    role: worker
"""

RETURN = r"""
node:
  description: The node after the change (before it, when removed).
  returned: always
  type: dict
  sample: {id: "x1y2", hostname: worker1, role: worker, availability: active, state: ready, labels: {zone: a}}
actions:
  description: What was done (or would be, in check mode).
  returned: always
  type: list
  elements: str
quorum:
  description: The quorum arithmetic, when a demote or remove was checked.
  returned: when a manager was demoted or removed
  type: str
"""

import contextlib
import json
import time

from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_docker import NotFound, SwarmClient, normalize_node, quorum_after, wait_until


def heartbeat_seconds(swarm: dict) -> float:
    """The dispatcher's heartbeat period (Docker's default: 5 s)."""
    period = (swarm.get("Spec", {}).get("Dispatcher") or {}).get("HeartbeatPeriod") or 5 * 10**9
    return period / 10**9


def wanted_labels(live: dict, labels: dict | None, labels_state: str, to_remove: list | None) -> dict:
    """The labels the node should end with, given the live ones and the options."""
    result = {} if labels_state == "replace" and labels is not None else dict(live)
    result.update({key: str(value) for key, value in (labels or {}).items()})
    for key in to_remove or []:
        result.pop(key, None)
    return result


class NodeManager:
    def __init__(self, client: SwarmClient) -> None:
        self.client = client
        self.params = client.params
        self.actions: list[str] = []
        self.result: dict = {"changed": False}
        client.require_manager("swarm_node")
        self.nodes = [normalize_node(node) for node in client.nodes()]
        self.node = self.find(self.params["node"])

    def find(self, name: str) -> dict | None:
        by_id = [n for n in self.nodes if n["id"] == name]
        if by_id:
            return by_id[0]
        by_hostname = [n for n in self.nodes if n["hostname"] == name]
        if len(by_hostname) > 1:
            self.client.fail(f"{len(by_hostname)} nodes have the hostname {name} "
                             f"({', '.join(n['id'] + ' ' + n['state'] for n in by_hostname)}): give the NodeID; "
                             "remove the stale ones (state down) with swarm_node state=absent")
        return by_hostname[0] if by_hostname else None

    def check_quorum(self, action: str) -> None:
        ok, arithmetic = quorum_after(self.nodes, self.node["id"])
        self.result["quorum"] = arithmetic
        if not ok:
            self.client.fail(f"refusing to {action} {self.node['hostname']}: {arithmetic}. "
                             "Add or repair managers first (docs/remove-node.md)")

    # -- present ------------------------------------------------------------------------------------------------
    def present(self) -> None:
        if self.node is None:
            self.client.fail(f"no node {self.params['node']} in this swarm (it has: "
                             f"{', '.join(sorted(str(n['hostname']) for n in self.nodes))}); join it first")
        live = self.node
        target = {"labels": wanted_labels(live["labels"], self.params["labels"], self.params["labels_state"],
                                          self.params["labels_to_remove"]),
                  "availability": self.params["availability"] or live["availability"],
                  "role": self.params["role"] or live["role"]}
        before = {key: live[key] for key in target}
        changes = [key for key in target if target[key] != before[key]]
        if "role" in changes and target["role"] == "worker":
            self.check_quorum("demote")
        if changes:
            self.actions.extend(f"{key}: {before[key]} -> {target[key]}" for key in changes)
            self.result["changed"] = True
            if not self.client.check_mode:
                self.update(target)
        if target["availability"] == "drain" and self.params["wait_drained"] and not self.client.check_mode:
            self.wait_drained()
        if "role" in changes and not self.client.check_mode:
            self.wait_role(target["role"])
        if self.client.check_mode:
            after = dict(before, **target)
        else:
            refreshed = self.refreshed()
            after = {key: refreshed[key] for key in target}
        self.finish(before, after)

    def update(self, target: dict) -> None:
        self.client.versioned_update(
            f"/nodes/{self.node['id']}", what=f"node update {self.node['hostname']}",
            make_spec=lambda node: dict(node["Spec"], Labels=target["labels"], Availability=target["availability"],
                                        Role=target["role"]))

    def running_tasks(self) -> list[dict]:
        """Tasks whose container is (or is about to be) alive on the node, whatever their desired state: a task
        being drained has desired state shutdown while it still runs out its stop grace period."""
        tasks = self.client.call("GET", "/tasks", params={"filters": json.dumps({"node": [self.node["id"]]})},
                                 what="task ls")
        alive = ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running")
        return [task for task in tasks or [] if task.get("Status", {}).get("State") in alive]

    def wait_drained(self) -> None:
        # Global services keep no task on a drained node; replicated ones move. Either way, none may remain.
        if wait_until(lambda: not self.running_tasks(), self.params["wait_timeout"], every=2):
            return
        left = [t.get("ServiceID", "?")[:12] for t in self.running_tasks()]
        self.client.fail(f"{self.node['hostname']} still runs {len(left)} task(s) after {self.params['wait_timeout']}s "
                         f"of draining (services {', '.join(sorted(set(left)))}): raise wait_timeout or check why "
                         "they cannot be placed elsewhere (constraints, resources)")

    def wait_role(self, role: str) -> None:
        """A promoted node is done when it is a reachable manager. A demoted one when it has stayed Ready as a worker
        for as long as the leader waits for a missed heartbeat (three heartbeat periods): its agent, served through
        its own manager until then, registers with another one, and the node may report Down in between. The next
        demotion, or a drain, should not count on it before."""
        steady = None if role == "manager" else 3 * heartbeat_seconds(self.client.inspect_swarm())
        seen = {"node": self.node, "ready_since": None}

        def done() -> bool:
            node = seen["node"] = self.refreshed()
            if node["role"] == role and role == "manager":
                return node["manager_reachability"] == "reachable"
            if node["role"] == role and role == "worker" and node["state"] == "ready":
                seen["ready_since"] = seen["ready_since"] or time.monotonic()
                return time.monotonic() - seen["ready_since"] >= steady
            seen["ready_since"] = None
            return False

        if wait_until(done, self.params["wait_timeout"]):
            return
        node = seen["node"]
        wanted = "reachable manager" if role == "manager" else "steadily Ready worker"
        self.client.fail(f"{self.node['hostname']} did not become a {wanted} within {self.params['wait_timeout']}s "
                         f"(now: {node['role']}, {node['state']}); check that 2377/tcp and 7946/tcp+udp are open "
                         "between it and the managers")

    def refreshed(self) -> dict:
        return normalize_node(self.client.call("GET", f"/nodes/{self.node['id']}", what="node inspect"))

    # -- absent -------------------------------------------------------------------------------------------------
    def absent(self) -> None:
        if self.node is None:
            self.finish({}, {})
            return
        if self.node["role"] == "manager":
            self.check_quorum("remove")
            if self.node["state"] == "ready" and self.node["manager_reachability"] == "reachable":
                self.client.fail(f"{self.node['hostname']} is a live manager: demote it first (role=worker), "
                                 "then remove it")
        elif self.node["state"] != "down" and not self.params["force"]:
            self.client.fail(f"{self.node['hostname']} is still {self.node['state']}: make it leave the swarm first "
                             "(swarm_membership state=absent on it), or set force=true")
        self.actions.append(f"remove {self.node['hostname']} ({self.node['id']})")
        self.result["changed"] = True
        if not self.client.check_mode:
            with contextlib.suppress(NotFound):
                self.client.call("DELETE", f"/nodes/{self.node['id']}",
                                 params={"force": "1" if self.params["force"] or self.node["role"] == "manager" else "0"},
                                 what="node rm")
        self.finish({"present": True}, {"present": False})

    def finish(self, before: dict, after: dict) -> None:
        self.result.update(node=self.node or {}, actions=self.actions)
        if self.client.diff_mode:
            self.result["diff"] = {"before": before, "after": after}
        self.client.module.exit_json(**self.result)


ARGUMENT_SPEC = {
    "node": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "labels": {"type": "dict"},
    "labels_state": {"type": "str", "choices": ["merge", "replace"], "default": "merge"},
    "labels_to_remove": {"type": "list", "elements": "str"},
    "availability": {"type": "str", "choices": ["active", "pause", "drain"]},
    "role": {"type": "str", "choices": ["manager", "worker"]},
    "wait_drained": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 300},
    "force": {"type": "bool", "default": False},
}


def main() -> None:
    client = SwarmClient(ARGUMENT_SPEC)
    manager = NodeManager(client)
    getattr(manager, client.params["state"])()


if __name__ == "__main__":
    main()
