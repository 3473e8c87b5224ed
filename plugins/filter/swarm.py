# Copyright: swarmforge contributors
# Apache License 2.0
"""The swarm as its engines tell it: one view built from what each host's engine said of itself (preflight's read,
tasks/swarm.yml), read once per run into preflight_swarm for every role that decides from live state."""

from __future__ import annotations

import json
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.swarmforge.swarm.plugins.filter.hosts import host_values
from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_certificate import certificate_subject


def _views(results):
    """Each answer of a registered result: a host's own (a task on the host), or a loop's items (a task delegated to
    hosts outside the play: the item is the host)."""
    for host, answer in results:
        if isinstance(answer, Mapping) and isinstance(answer.get("results"), list):
            for item in answer["results"]:
                if isinstance(item, Mapping) and "item" in item:
                    yield item["item"], item
        else:
            yield host, answer


def _engine_answer(answer):
    """(swarm, nodes, quorum lost, certificate subject) from one engine's answer to preflight's read: `docker info`'s
    Swarm as JSON on the first line; then on a manager each node of `docker node ls` as JSON, a line each, or
    NO-LEADER; on a worker its node certificate in PEM. None when the engine did not answer (no engine, or it is
    stopped)."""
    lines = [line for line in str(answer.get("stdout", "")).splitlines() if line.strip()]
    if answer.get("rc", 1) != 0 or not lines:
        return None
    rest = lines[1:]
    subject = {}
    if rest and rest[0].strip() == "-----BEGIN CERTIFICATE-----":
        try:
            subject = certificate_subject("\n".join(rest))
        except ValueError:  # unreadable: the ClusterID stays unknown, as the engine leaves it
            subject = {}
        rest = []
    try:
        swarm = json.loads(lines[0])
        nodes = [json.loads(line) for line in rest if line.strip() != "NO-LEADER"]
    except ValueError as error:
        raise AnsibleFilterError(f"swarm_state: an engine's answer is not what the read prints: {error}") from error
    return swarm, nodes, "NO-LEADER" in rest, subject


def swarm_state(hosts, hostvars, result, others=None):
    """The swarm as the engines of hosts said it, from preflight's read each registered as `result` (and, with
    others, a loop's results of the read delegated to hosts outside the play, each item a host).

    Returns hosts (host: state, role, node_id, cluster_id, leader; state `no engine`, with the error, where no engine
    answered), cluster_ids (every ClusterID the hosts report: a manager's engine, a worker's node certificate; in
    host order), cluster_id (the one, when there is exactly one), managers and workers (hosts active in a swarm with
    that role), locked, pending, no_engine, quorum_lost (managers whose swarm has no leader), leader (the host whose
    node the managers name as leader, empty when none of hosts is) and autolock. Hosts that were skipped or did not
    answer are left out."""
    answers = list(host_values(hosts, hostvars, result).items())
    if isinstance(others, Mapping):
        answers.append(("", others))
    view = {"hosts": {}, "cluster_ids": [], "cluster_id": "", "managers": [], "workers": [], "locked": [],
            "pending": [], "no_engine": [], "quorum_lost": [], "leader": "", "autolock": False}
    host_of_node = {}
    leader_ids = []
    for host, answer in _views(answers):
        if not isinstance(answer, Mapping) or answer.get("skipped") or answer.get("unreachable") or not host:
            continue
        if host in view["hosts"]:
            continue
        read = _engine_answer(answer)
        if read is None:
            error = " ".join(str(answer.get("stderr") or answer.get("msg") or "").split())
            view["hosts"][host] = {"state": "no engine", "role": None, "node_id": None, "cluster_id": None,
                                   "leader": False, "error": error}
            view["no_engine"].append(host)
            continue
        swarm, nodes, no_leader, subject = read
        state = swarm.get("LocalNodeState") or "inactive"
        cluster = swarm.get("Cluster") or {}
        role = "manager" if swarm.get("ControlAvailable") else ("worker" if state == "active" else None)
        # A manager's engine reports the ClusterID; a worker's certificate does (its subject's O).
        entry = {"state": state, "role": role, "node_id": swarm.get("NodeID") or None,
                 "cluster_id": cluster.get("ID") or subject.get("O") or None, "leader": False}
        view["hosts"][host] = entry
        if entry["cluster_id"] and entry["cluster_id"] not in view["cluster_ids"]:
            view["cluster_ids"].append(entry["cluster_id"])
        if state == "active" and role:
            view[f"{role}s"].append(host)
        elif state in ("locked", "pending"):
            view[state].append(host)
        if no_leader:
            view["quorum_lost"].append(host)
        if entry["node_id"]:
            host_of_node[entry["node_id"]] = host
        for node in nodes:
            if node.get("ManagerStatus") == "Leader" and node.get("ID") not in leader_ids:
                leader_ids.append(node["ID"])
        if ((cluster.get("Spec") or {}).get("EncryptionConfig") or {}).get("AutoLockManagers"):
            view["autolock"] = True
    if len(view["cluster_ids"]) == 1:
        view["cluster_id"] = view["cluster_ids"][0]
    leaders = [host_of_node[node] for node in leader_ids if node in host_of_node]
    if leaders:
        view["leader"] = leaders[0]
        view["hosts"][leaders[0]]["leader"] = True
    return view


class FilterModule:
    def filters(self):
        return {"swarm_state": swarm_state}
