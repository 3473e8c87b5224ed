#!/usr/bin/python
# Copyright: swarmforge contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_rotate
short_description: Rotate a swarm's join tokens, root CA or autolock unlock key
description:
  - Runs on a manager. Each rotation asked for is done once per call. Rotating is the point, so a run that asks for
    one always reports C(changed) (in check mode too, without doing it).
  - I(join_tokens) replaces the worker and/or manager join token. Nodes already in the swarm are not affected; the old
    token stops working for new joins.
  - I(ca) starts a root CA rotation (a new self-signed root, like C(docker swarm ca --rotate)) and, with I(wait),
    waits until the rotation finished and every node that is up holds a certificate from the new root. Nodes that
    are down get theirs when they come back.
  - I(unlock_key) replaces the autolock unlock key (autolock must be on) and returns the new one as C(unlock_key).
author: swarmforge contributors (@swarmforge)
extends_documentation_fragment: [swarmforge.swarm.swarmforge_docker]
options:
  join_tokens:
    description: The join tokens to replace.
    type: list
    elements: str
    choices: [worker, manager]
    default: []
  ca:
    description: Rotate the root CA and reissue every node's certificate.
    type: bool
    default: false
  unlock_key:
    description: Replace the autolock unlock key. Register the result with C(no_log).
    type: bool
    default: false
  wait:
    description: With I(ca), wait until the rotation finished on every node that is up.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the CA rotation.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    description: Reports what would be rotated without rotating.
  diff_mode:
    support: partial
    description: Which secrets change; never their values (a fingerprint of the root CA certificate for I(ca)).
  idempotent:
    support: none
    description: Every run rotates what it is asked to; that is its purpose.
seealso:
  - module: swarmforge.swarm.swarm_info
  - module: swarmforge.swarm.swarm_membership
"""

EXAMPLES = r"""
- name: New join tokens after a token leaked
  swarm_rotate:
    join_tokens: [worker, manager]
  run_once: true
  delegate_to: "{{ groups['swarm_managers'][0] }}"

- name: A new root CA, every node recertified
  swarm_rotate:
    ca: true
    wait_timeout: 600
"""

RETURN = r"""
rotated:
  description: What was rotated (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [worker token, manager token, root CA]
trust_root_fingerprint:
  description: SHA-256 fingerprint of the cluster's root CA certificate after the call.
  returned: always
  type: str
nodes_pending:
  description: Nodes that are down and still hold a certificate from the old root (they update when back).
  returned: when ca is true and wait is true
  type: list
  elements: str
unlock_key:
  description: The new autolock unlock key. Secret.
  returned: when unlock_key is true and not in check mode
  type: str
"""

import hashlib

from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_docker import SwarmClient, wait_until


def root_fingerprint(swarm: dict) -> str:
    """SHA-256 of the cluster's root CA certificate (PEM), as /swarm reports it."""
    pem = (swarm.get("TLSInfo") or {}).get("TrustRoot", "")
    return "sha256:" + hashlib.sha256(pem.strip().encode()).hexdigest() if pem else ""


class Rotation:
    def __init__(self, client: SwarmClient) -> None:
        self.client = client
        self.params = client.params
        client.require_manager("swarm_rotate")
        self.rotated: list[str] = []
        self.result: dict = {}

    def run(self) -> None:
        swarm = self.client.inspect_swarm()
        if self.params["unlock_key"] and not swarm["Spec"].get("EncryptionConfig", {}).get("AutoLockManagers"):
            self.client.fail("unlock_key: autolock is off, so there is no unlock key to rotate "
                             "(swarm_membership autolock=true turns it on)")
        self.rotated = [f"{kind} token" for kind in self.params["join_tokens"]]
        if self.params["ca"]:
            self.rotated.append("root CA")
        if self.params["unlock_key"]:
            self.rotated.append("unlock key")
        before_root = after_root = root_fingerprint(swarm)
        if self.rotated and not self.client.check_mode:
            self.rotate()
            if self.params["ca"]:
                after_root = (self.wait_for_new_root(before_root) if self.params["wait"]
                              else root_fingerprint(self.client.inspect_swarm()))
        self.result.update(changed=bool(self.rotated), rotated=self.rotated, trust_root_fingerprint=after_root)
        if self.client.diff_mode:
            before = dict.fromkeys(self.rotated, "current")
            after = dict.fromkeys(self.rotated, "new")
            if self.params["ca"]:
                before["trust_root"] = before_root
                after["trust_root"] = "a new root" if self.client.check_mode else after_root
            self.result["diff"] = {"before": before, "after": after}
        self.client.module.exit_json(**self.result)

    def rotate(self) -> None:
        def spec(current: dict) -> dict:
            new = current["Spec"]
            if self.params["ca"]:
                ca_config = new.setdefault("CAConfig", {})
                ca_config["ForceRotate"] = int(ca_config.get("ForceRotate", 0)) + 1
            return new

        params = {"rotateWorkerToken": str("worker" in self.params["join_tokens"]).lower(),
                  "rotateManagerToken": str("manager" in self.params["join_tokens"]).lower(),
                  "rotateManagerUnlockKey": str(self.params["unlock_key"]).lower()}
        self.client.versioned_update("/swarm", make_spec=spec, params=params, what="swarm update (rotate)")
        if self.params["unlock_key"]:
            self.result["unlock_key"] = self.client.call("GET", "/swarm/unlockkey", what="unlock key")["UnlockKey"]

    def wait_for_new_root(self, before_root: str) -> str:
        seen: dict = {}

        def rotated() -> str:
            swarm = seen["swarm"] = self.client.inspect_swarm()
            root_pem = (swarm.get("TLSInfo") or {}).get("TrustRoot", "")
            root = root_fingerprint(swarm)
            behind = [n for n in self.client.nodes()
                      if n.get("Description", {}).get("TLSInfo", {}).get("TrustRoot", "").strip() != root_pem.strip()]
            seen["behind_up"] = [n for n in behind if n.get("Status", {}).get("State") != "down"]
            if root != before_root and not swarm.get("RootRotationInProgress") and not seen["behind_up"]:
                self.result["nodes_pending"] = sorted(n["Description"]["Hostname"] for n in behind)
                return root
            return ""

        root = wait_until(rotated, self.params["wait_timeout"], every=2)
        if root:
            return root
        still_old = ", ".join(sorted(n["Description"]["Hostname"] for n in seen["behind_up"])) or "none"
        self.client.fail(f"the root CA rotation did not finish within {self.params['wait_timeout']}s "
                         f"(in progress: {bool(seen['swarm'].get('RootRotationInProgress'))}; nodes still on the old "
                         f"root: {still_old}). It goes on in the background: check again with docker node ls, "
                         "or wait longer", rotated=self.rotated)
        return ""


ARGUMENT_SPEC = {
    "join_tokens": {"type": "list", "elements": "str", "choices": ["worker", "manager"], "default": []},
    "ca": {"type": "bool", "default": False},
    "unlock_key": {"type": "bool", "default": False},
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 300},
}


def main() -> None:
    client = SwarmClient(ARGUMENT_SPEC)
    Rotation(client).run()


if __name__ == "__main__":
    main()
