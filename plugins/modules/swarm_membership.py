#!/usr/bin/python
# Copyright: swarmforge contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_membership
short_description: Init, join or leave a Docker swarm, knowing which swarm and which role
description:
  - C(state=initialized) makes this node the first manager of a new swarm when it is in none, and keeps the cluster
    settings it is given (task history, certificate expiry, autolock) on the swarm it manages.
  - C(state=joined) joins this node, as the role its join token gives, through any of I(join_addresses). A node
    already in I(this) swarm with the asked role is unchanged. A node in a different swarm is refused, naming both
    ClusterIDs, unless I(force) (then it leaves that swarm first). A node in this swarm with the other role is
    reported (C(role_mismatch)); the fix is a promote or demote through a manager (M(swarmforge.swarm.swarm_node)).
  - C(state=absent) leaves the swarm. A manager leaves only with I(force), because leaving skips the quorum check;
    demote it first with M(swarmforge.swarm.swarm_node).
  - C(state=unlocked) unlocks an autolocked manager (after its engine restarted) with I(unlock_key), and does
    nothing on a node that is not locked. With the other states, a locked node is unlocked first when I(unlock_key)
    is given, and refused otherwise.
  - Which swarm a node is in is decided by ClusterID; workers read it from their swarm certificate.
author: swarmforge contributors (@swarmforge)
extends_documentation_fragment: [swarmforge.swarm.swarmforge_docker]
options:
  state:
    description: What this node should be.
    type: str
    choices: [initialized, joined, absent, unlocked]
    default: joined
  unlock_key:
    description:
      - The swarm's autolock unlock key (C(SWMKEY-1-...)), from a vault. Secret. Used only on a node that is locked.
    type: str
  role:
    description:
      - The role this node should have with C(state=joined). The join token decides the role at join time; this
        option decides what counts as a mismatch afterwards.
    type: str
    choices: [manager, worker]
    default: worker
  join_addresses:
    description: Manager addresses (host or host:port) to join through; any healthy one will do.
    type: list
    elements: str
  join_token:
    description: The worker or manager join token. Secret.
    type: str
  cluster_id:
    description:
      - The ClusterID this node must belong to. When it is in a swarm with another ClusterID the module fails
        (or, with I(force), leaves it and joins). Without it, a node counts as in this swarm when one of its known
        managers is among I(join_addresses).
    type: str
  force:
    description:
      - With C(state=joined), leave another swarm before joining. With C(state=absent), let a manager leave.
    type: bool
    default: false
  advertise_addr:
    description: Address advertised to other nodes (init and join).
    type: str
  listen_addr:
    description: Address and port for cluster management traffic (init and join).
    type: str
    default: 0.0.0.0:2377
  data_path_addr:
    description: Address for data-path (overlay) traffic (init and join).
    type: str
  data_path_port:
    description: UDP port for VXLAN data traffic. Init only; not compared afterwards.
    type: int
  default_addr_pool:
    description: Address pools for overlay networks, as CIDRs. Init only; not compared afterwards.
    type: list
    elements: str
  subnet_size:
    description: Prefix length of each overlay network taken from I(default_addr_pool). Init only.
    type: int
  node_cert_expiry:
    description: Node certificate lifetime, as a duration (C(90d), C(2160h), C(30m)). Kept on the managed swarm.
    type: str
  task_history_limit:
    description: Task history retained per service slot. Kept on the managed swarm.
    type: int
  autolock:
    description: Autolock managers; the unlock key is returned as C(unlock_key) (register with C(no_log)).
    type: bool
  force_new_cluster:
    description:
      - With C(state=initialized) on a manager whose swarm has lost quorum, start a new single-manager cluster from
        this node's state, keeping services, networks and workers. Does nothing while quorum holds.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for a joined or unlocked node to become active, and for a node found C(pending) (its engine
        just started, its managers not yet reached or without a leader) to settle before anything is decided; with
        C(state=initialized), a manager found active while its managers have not yet elected a leader (all restarted
        together) waits for the election too (not with O(force_new_cluster)).
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    description: Reports what would change without calling the API's write endpoints.
  diff_mode:
    support: full
    description: Before and after of membership and of the compared cluster settings.
  idempotent:
    support: full
    description: Run again with the same arguments, it changes nothing.
seealso:
  - module: swarmforge.swarm.swarm_node
  - module: swarmforge.swarm.swarm_info
"""

EXAMPLES = r"""
- name: First manager
  swarm_membership:
    state: initialized
    advertise_addr: 172.28.88.11
    default_addr_pool: [10.20.0.0/16]
    subnet_size: 24
    task_history_limit: 5

- name: Join as a worker through any manager
  swarm_membership:
    state: joined
    role: worker
    join_addresses: [172.28.88.11, 172.28.88.12]
    join_token: "{{ worker_token }}"
    cluster_id: "{{ cluster_id }}"
    advertise_addr: 172.28.88.101
  no_log: true

- name: Leave
  swarm_membership:
    state: absent

- name: Unlock a manager that restarted locked
  swarm_membership:
    state: unlocked
    unlock_key: "{{ vault_swarm_unlock_key }}"
"""

RETURN = r"""
node_id:
  description: This node's NodeID after the change (null when it left).
  returned: always
  type: str
cluster_id:
  description: The ClusterID this node is in after the change (null when it left).
  returned: always
  type: str
role:
  description: This node's role after the change.
  returned: always
  type: str
actions:
  description: What was done (or would be, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["init"]
role_mismatch:
  description: The node is in the right swarm with the other role; fix it through a manager (swarm_node).
  returned: always
  type: bool
unlock_key:
  description: The autolock unlock key, when autolock was turned on or the swarm was initialised with it. Secret.
  returned: when autolock was enabled by this call
  type: str
"""

import re
import time

from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_docker import APIError, SwarmClient, advice_for, wait_until

DURATION = re.compile(r"^(\d+)(ns|us|ms|s|m|h|d)$")
NANOSECONDS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9,
               "d": 86400 * 10**9}


def parse_duration(text: str) -> int:
    match = DURATION.match(text.strip())
    if not match:
        raise ValueError(f"node_cert_expiry {text!r}: give a number and a unit, e.g. 90d, 2160h or 30m")
    return int(match.group(1)) * NANOSECONDS[match.group(2)]


def address_host(address: str) -> str:
    if address.startswith("["):
        return address[1:].split("]")[0]
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


class Membership:
    def __init__(self, client: SwarmClient) -> None:
        self.client = client
        self.params = client.params
        self.actions: list[str] = []
        self.result: dict = {"changed": False, "role_mismatch": False}
        self.before = self.settled(client.local_node())
        self.initial = self.before  # self.before follows an unlock; the diff starts here
        self.differences: dict[str, tuple] = {}
        self.wanted = self.wanted_settings()  # validates the options before anything is decided

    def settled(self, node: dict) -> dict:
        """A node whose engine just started (a reboot, a whole cluster restarted) is `pending` until it reached its
        managers and they elected a leader: decided on then, it would look like a node of no known swarm. Wait for it
        (read-only, in check mode too), up to wait_timeout."""
        if node["state"] == "pending":
            latest = [node]

            def settled_now() -> bool:
                latest[0] = self.client.local_node(refresh=True)
                return latest[0]["state"] != "pending"

            time.sleep(1)
            wait_until(settled_now, self.params["wait_timeout"])
            node = latest[0]
        if node["state"] == "pending":
            self.client.module.warn(f"this node is still pending after {self.params['wait_timeout']}s: it does not "
                                    "reach a manager with a leader (managers down, or quorum lost: recover.yml)")
        # A manager whose engine restarted together with the other managers' is active before they elected a leader:
        # its cluster does not answer yet. The bootstrap manager waits for the election before it reads or keeps the
        # cluster's settings (not when asked to start a new cluster from it; a stale manager that is to leave or
        # join again does not wait: recover.yml makes those).
        if (self.params["state"] == "initialized" and node["state"] == "active" and node["role"] == "manager"
                and not self.params["force_new_cluster"] and not self.client.cluster_answers()
                and not wait_until(self.client.cluster_answers, self.params["wait_timeout"])):
            self.client.module.warn(f"no leader answered within {self.params['wait_timeout']}s: the managers "
                                    "are down or lost quorum (recover.yml)")
        return node

    # -- settings kept on a managed swarm ---------------------------------------------------------------------
    def wanted_settings(self) -> dict:
        wanted = {}
        if self.params["task_history_limit"] is not None:
            wanted["task_history_limit"] = self.params["task_history_limit"]
        if self.params["node_cert_expiry"] is not None:
            try:
                wanted["node_cert_expiry"] = parse_duration(self.params["node_cert_expiry"])
            except ValueError as error:
                self.client.fail(str(error))
        if self.params["autolock"] is not None:
            wanted["autolock"] = self.params["autolock"]
        return wanted

    @staticmethod
    def live_settings(swarm: dict) -> dict:
        spec = swarm["Spec"]
        return {"task_history_limit": spec.get("Orchestration", {}).get("TaskHistoryRetentionLimit"),
                "node_cert_expiry": spec.get("CAConfig", {}).get("NodeCertExpiry"),
                "autolock": bool(spec.get("EncryptionConfig", {}).get("AutoLockManagers"))}

    def init_spec(self) -> dict:
        wanted = self.wanted
        spec: dict = {}
        if "task_history_limit" in wanted:
            spec["Orchestration"] = {"TaskHistoryRetentionLimit": wanted["task_history_limit"]}
        if "node_cert_expiry" in wanted:
            spec["CAConfig"] = {"NodeCertExpiry": wanted["node_cert_expiry"]}
        if "autolock" in wanted:
            spec["EncryptionConfig"] = {"AutoLockManagers": wanted["autolock"]}
        return spec

    # -- states ---------------------------------------------------------------------------------------------
    def unlocked(self) -> bool:
        """Unlock the node when it is locked; False when it stays locked (check mode), so nothing more is decided."""
        if self.before["state"] != "locked":
            return True
        key = self.params["unlock_key"]
        if not key:
            self.client.fail("this node's swarm is autolocked (its engine restarted): give unlock_key (swarmforge: "
                             "swarm_unlock_key, kept in the inventory's vault), or run `docker swarm unlock` on it")
        self.actions.append("unlock")
        self.result["changed"] = True
        if self.client.check_mode:
            return False
        try:
            self.client.api.unlock_swarm(key)
        except APIError as error:
            explanation = str(getattr(error, "explanation", None) or error)
            self.client.fail(f"swarm unlock refused the key ({explanation}): unlock_key is not this swarm's current "
                             "unlock key. After a rotation the new key is in the file rotate.yml wrote; "
                             "`docker swarm unlock-key -q` on an unlocked manager prints the current one")

        def active() -> bool:
            self.before = self.client.local_node(refresh=True)
            return self.before["state"] == "active"

        if wait_until(active, self.params["wait_timeout"]):
            return True
        self.client.fail(f"unlocked, but the node did not become active within {self.params['wait_timeout']}s")
        return False

    def initialized(self) -> None:
        if not self.unlocked():
            return
        node = self.before
        if node["state"] not in ("active", "pending"):
            self.init(force_new_cluster=False)
            return
        if node["role"] != "manager":
            self.client.fail(f"this node is a worker of swarm {node['cluster_id']}; state=initialized needs a "
                             "manager or a node in no swarm (leave first, or promote it from a manager)")
        if self.params["force_new_cluster"] and not self.client.cluster_answers():
            self.init(force_new_cluster=True)
            return
        self.update_settings()

    def init(self, force_new_cluster: bool) -> None:
        self.actions.append("force-new-cluster" if force_new_cluster else "init")
        self.result["changed"] = True
        if self.client.check_mode:
            return
        data = {"ListenAddr": self.params["listen_addr"], "ForceNewCluster": force_new_cluster,
                "Spec": self.init_spec()}
        for key, param in (("AdvertiseAddr", "advertise_addr"), ("DataPathAddr", "data_path_addr"),
                           ("DataPathPort", "data_path_port"), ("DefaultAddrPool", "default_addr_pool"),
                           ("SubnetSize", "subnet_size")):
            if self.params[param] is not None:
                data[key] = self.params[param]
        if force_new_cluster:
            # Only the raft membership is reset: services, networks, secrets and workers stay. Address pools and the
            # data path port belong to the existing cluster and cannot be given again.
            data = {key: data[key] for key in ("ListenAddr", "AdvertiseAddr", "ForceNewCluster", "Spec") if key in data}
        self.client.call("POST", "/swarm/init", data=data, what="swarm init")
        if self.params["autolock"]:
            self.result["unlock_key"] = self.client.call("GET", "/swarm/unlockkey", what="unlock key")["UnlockKey"]

    def update_settings(self) -> None:
        wanted = self.wanted
        if not wanted:
            return
        swarm = self.client.inspect_swarm()
        live = self.live_settings(swarm)
        changes = {key: (live[key], value) for key, value in wanted.items() if live[key] != value}
        if not changes:
            return
        self.differences.update(changes)
        self.actions.append("update settings: " + ", ".join(sorted(changes)))
        self.result["changed"] = True
        if self.client.check_mode:
            return
        spec = swarm["Spec"]
        if "task_history_limit" in changes:
            spec.setdefault("Orchestration", {})["TaskHistoryRetentionLimit"] = wanted["task_history_limit"]
        if "node_cert_expiry" in changes:
            spec.setdefault("CAConfig", {})["NodeCertExpiry"] = wanted["node_cert_expiry"]
        if "autolock" in changes:
            spec.setdefault("EncryptionConfig", {})["AutoLockManagers"] = wanted["autolock"]
        self.client.call("POST", "/swarm/update", params={"version": swarm["Version"]["Index"]}, data=spec,
                         what="swarm update")
        if changes.get("autolock", (None, False))[1]:
            self.result["unlock_key"] = self.client.call("GET", "/swarm/unlockkey", what="unlock key")["UnlockKey"]

    def in_this_swarm(self) -> bool:
        node = self.before
        if self.params["cluster_id"]:
            return node["cluster_id"] == self.params["cluster_id"]
        joined_through = {address_host(a) for a in self.params["join_addresses"] or []}
        return bool(joined_through & {address_host(a) for a in node["remote_managers"]})

    def joined(self) -> None:
        node = self.before
        if not self.params["join_addresses"] or not self.params["join_token"]:
            self.client.fail("state=joined needs join_addresses and join_token "
                             "(swarm_info with include_tokens on a manager gives the tokens)")
        if not self.unlocked():
            return
        node = self.before
        if node["state"] in ("active", "pending"):
            if self.in_this_swarm():
                if node["role"] and node["role"] != self.params["role"]:
                    self.result["role_mismatch"] = True
                return
            if not self.params["force"]:
                wanted = self.params["cluster_id"] or "the swarm of " + ", ".join(self.params["join_addresses"])
                self.client.fail(f"this node is already in another swarm (ClusterID {node['cluster_id']}, managers "
                                 f"{', '.join(node['remote_managers']) or 'unknown'}), not in {wanted}. "
                                 "Leave it first, or set force=true to leave it and join")
            self.leave(force=True)
        self.join()

    def join(self) -> None:
        self.actions.append(f"join as {self.params['role']}")
        self.result["changed"] = True
        if self.client.check_mode:
            return
        data = {"ListenAddr": self.params["listen_addr"], "RemoteAddrs": self.params["join_addresses"],
                "JoinToken": self.params["join_token"]}
        for key, param in (("AdvertiseAddr", "advertise_addr"), ("DataPathAddr", "data_path_addr")):
            if self.params[param] is not None:
                data[key] = self.params[param]
        try:
            self.client.request("POST", "/swarm/join", data=data)  # not call(): a slow join is not a failure
        except APIError as error:
            explanation = str(getattr(error, "explanation", None) or error)
            # On a loaded cluster the engine's own join deadline can pass while the join goes on in the background.
            if "continue in the background" not in explanation:
                self.client.fail(advice_for(f"swarm join: {explanation}"))
        if wait_until(lambda: self.client.local_node(refresh=True)["state"] == "active", self.params["wait_timeout"]):
            return
        self.client.fail(f"joined, but the node did not become active within {self.params['wait_timeout']}s "
                         "(check that 2377/tcp, 7946/tcp+udp and 4789/udp are open between the nodes)")

    def absent(self) -> None:
        if not self.unlocked():
            return
        node = self.before
        if node["state"] in ("inactive", "error") and not node["node_id"]:
            return
        if node["role"] == "manager" and not self.params["force"]:
            self.client.fail("this node is a manager: demote it first (swarm_node role=worker checks quorum), "
                             "or set force=true to leave without that check")
        self.leave(force=self.params["force"])

    def leave(self, force: bool) -> None:
        self.actions.append("leave")
        self.result["changed"] = True
        if self.client.check_mode:
            return
        self.client.call("POST", "/swarm/leave", params={"force": "1" if force else "0"}, what="swarm leave")

    # -- result ---------------------------------------------------------------------------------------------
    def finish(self) -> None:
        after = self.before if self.client.check_mode else self.client.local_node(refresh=True)
        if self.client.check_mode:
            after = dict(after)
            if "leave" in self.actions:
                after.update(state="inactive", node_id=None, cluster_id=None, role=None)
            if any(a in ("init", "force-new-cluster") or a.startswith("join") for a in self.actions):
                after.update(state="active", role=self.params["role"] if self.params["state"] == "joined"
                             else "manager", cluster_id=self.params["cluster_id"] or after.get("cluster_id"))
        self.result.update(node_id=after["node_id"], cluster_id=after["cluster_id"], role=after["role"],
                           actions=self.actions)
        if self.client.diff_mode:
            keys = ("state", "role", "cluster_id")
            before = {key: self.initial[key] for key in keys}
            after_view = {key: after[key] for key in keys}
            if "unlock" in self.actions:
                after_view["state"] = "active"
                before["locked"], after_view["locked"] = True, False
            for key, (old, new) in self.differences.items():
                before[key], after_view[key] = old, new
            self.result["diff"] = {"before": before, "after": after_view}
        self.client.module.exit_json(**self.result)


ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["initialized", "joined", "absent", "unlocked"], "default": "joined"},
    "unlock_key": {"type": "str", "no_log": True},
    "role": {"type": "str", "choices": ["manager", "worker"], "default": "worker"},
    "join_addresses": {"type": "list", "elements": "str"},
    "join_token": {"type": "str", "no_log": True},
    "cluster_id": {"type": "str"},
    "force": {"type": "bool", "default": False},
    "advertise_addr": {"type": "str"},
    "listen_addr": {"type": "str", "default": "0.0.0.0:2377"},
    "data_path_addr": {"type": "str"},
    "data_path_port": {"type": "int"},
    "default_addr_pool": {"type": "list", "elements": "str"},
    "subnet_size": {"type": "int"},
    "node_cert_expiry": {"type": "str"},
    "task_history_limit": {"type": "int"},
    "autolock": {"type": "bool"},
    "force_new_cluster": {"type": "bool", "default": False},
    "wait_timeout": {"type": "int", "default": 120},
}


def main() -> None:
    client = SwarmClient(ARGUMENT_SPEC, required_if=[("state", "joined", ("join_addresses", "join_token"))])
    membership = Membership(client)
    getattr(membership, client.params["state"])()
    membership.finish()


if __name__ == "__main__":
    main()
