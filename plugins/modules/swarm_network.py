#!/usr/bin/python
# Copyright: swarmforge contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_network
short_description: Overlay networks of a swarm, with drift reported and never silently recreated
description:
  - Creates, checks and removes a swarm-scoped network (overlay by default) on a manager.
  - Docker cannot change a network in place. When the live network differs from what is asked in any field given
    (driver, subnet, gateway, ip_range, attachable, internal, encrypted, driver options, labels), the module fails
    with the differences, or, with I(recreate=when_unused), removes and creates it again while no service uses it.
  - Only the options that are given are compared; labels and driver options given are compared key by key.
author: swarmforge contributors (@swarmforge)
extends_documentation_fragment: [swarmforge.swarm.swarmforge_docker]
options:
  name:
    description: Network name.
    type: str
    required: true
  state:
    description: Whether the network should exist.
    type: str
    choices: [present, absent]
    default: present
  driver:
    description: Network driver.
    type: str
    default: overlay
  subnet:
    description: Subnet in CIDR form. Without it Docker picks one from the swarm's default address pool.
    type: str
  gateway:
    description: Gateway address inside I(subnet).
    type: str
  ip_range:
    description: Range inside I(subnet) that task addresses are taken from.
    type: str
  attachable:
    description: Let standalone containers attach (docker run --network).
    type: bool
  internal:
    description: No route out of the network.
    type: bool
  encrypted:
    description: IPsec-encrypt the VXLAN traffic between nodes (needs IP protocol 50 open between them).
    type: bool
  driver_options:
    description: Further driver options.
    type: dict
  labels:
    description: Network labels.
    type: dict
  recreate:
    description:
      - C(never) fails on drift. C(when_unused) replaces the network when no service uses it (and fails
        otherwise, naming the services).
    type: str
    choices: [never, when_unused]
    default: never
attributes:
  check_mode:
    support: full
    description: Compares and reports what would change, changing nothing.
  diff_mode:
    support: full
    description: The compared fields before and after.
  idempotent:
    support: full
    description: Run again with the same arguments, it changes nothing.
seealso:
  - module: swarmforge.swarm.swarm_volume
"""

EXAMPLES = r"""
- name: The application network
  swarm_network:
    name: web
    subnet: 10.201.0.0/24
    attachable: true
  run_once: true
  delegate_to: "{{ groups['swarm_managers'][0] }}"

- name: An encrypted backend network, replaced if its definition changed and nothing uses it
  swarm_network:
    name: backend
    encrypted: true
    recreate: when_unused
"""

RETURN = r"""
network:
  description: The compared view of the network after the change (empty when absent).
  returned: always
  type: dict
  sample: {id: "a1b2", driver: overlay, subnet: 10.201.0.0/24, gateway: 10.201.0.1, attachable: true,
           internal: false, encrypted: false, driver_options: {}, labels: {}}
differences:
  description: Field, live value and asked value for each difference found.
  returned: always
  type: list
  elements: dict
used_by:
  description: Services attached to the network.
  returned: always
  type: list
  elements: str
actions:
  description: What was done (or would be, in check mode).
  returned: always
  type: list
  elements: str
"""

import json

from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_docker import NotFound, SwarmClient, wait_until
from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_immutable import ImmutableObject

ENCRYPTED_OPTION = "encrypted"
ALLOCATION_WAIT = 20  # seconds a just-created network may take to be allocated on a loaded manager


def live_view(network: dict) -> dict:
    ipam = (network.get("IPAM") or {}).get("Config") or [{}]
    options = dict(network.get("Options") or {})
    encrypted = ENCRYPTED_OPTION in options
    options.pop(ENCRYPTED_OPTION, None)
    options.pop("com.docker.network.driver.overlay.vxlanid_list", None)  # chosen by Docker, not by the user
    return {"id": network.get("Id"), "driver": network.get("Driver"), "subnet": ipam[0].get("Subnet"),
            "gateway": ipam[0].get("Gateway"), "ip_range": ipam[0].get("IPRange"),
            "attachable": bool(network.get("Attachable")), "internal": bool(network.get("Internal")),
            "encrypted": encrypted, "driver_options": options, "labels": network.get("Labels") or {}}


def asked_view(params: dict) -> dict:
    """Only what the user set: None means "not asked", so not compared."""
    keys = ("driver", "subnet", "gateway", "ip_range", "attachable", "internal", "encrypted")
    asked = {key: params[key] for key in keys if params.get(key) is not None}
    if params.get("driver_options") is not None:
        asked["driver_options"] = {k: str(v) for k, v in params["driver_options"].items()}
    if params.get("labels") is not None:
        asked["labels"] = {k: str(v) for k, v in params["labels"].items()}
    return asked


def differences(live: dict, asked: dict) -> list[dict]:
    found = []
    for key, wanted in asked.items():
        have = live.get(key)
        if isinstance(wanted, dict):
            changed = {k: v for k, v in wanted.items() if (have or {}).get(k) != v}
            if changed:
                found.append({"field": key, "live": {k: (have or {}).get(k) for k in changed}, "asked": changed})
        elif have != wanted:
            found.append({"field": key, "live": have, "asked": wanted})
    return found


def create_payload(name: str, params: dict) -> dict:
    options = {k: str(v) for k, v in (params.get("driver_options") or {}).items()}
    if params.get("encrypted"):
        options[ENCRYPTED_OPTION] = ""
    payload = {"Name": name, "Driver": params["driver"], "CheckDuplicate": True, "Scope": "swarm",
               "Attachable": bool(params.get("attachable")), "Internal": bool(params.get("internal")),
               "Options": options, "Labels": {k: str(v) for k, v in (params.get("labels") or {}).items()}}
    if params.get("subnet"):
        pool = {"Subnet": params["subnet"]}
        if params.get("gateway"):
            pool["Gateway"] = params["gateway"]
        if params.get("ip_range"):
            pool["IPRange"] = params["ip_range"]
        payload["IPAM"] = {"Driver": "default", "Config": [pool]}
    return payload


class NetworkManager(ImmutableObject):
    kind = "network"
    users_noun = "services"
    drift_hint = (". Docker cannot change a network in place: set recreate=when_unused to replace it while no service "
                  "uses it")
    in_use_fix = "remove them first, then run again"
    absent_fix = "remove them (or their stack) first"

    def __init__(self, client: SwarmClient) -> None:
        client.require_manager("swarm_network")
        if (client.params["gateway"] or client.params["ip_range"]) and not client.params["subnet"]:
            client.fail("gateway and ip_range need subnet: give the subnet they belong to")
        super().__init__(client)

    def find(self) -> dict | None:
        found = self.client.call("GET", "/networks", params={"filters": json.dumps({"name": [self.params["name"]]})},
                                 what="network ls")
        exact = [n for n in found or [] if n.get("Name") == self.params["name"]]
        if not exact:
            return None
        network_id = exact[0]["Id"]
        seen: dict = {}

        def allocated() -> bool:
            try:
                seen["network"] = self.client.call("GET", f"/networks/{network_id}", params={"verbose": "false"},
                                                   what="network inspect")
            except NotFound:  # listed, then removed before the inspect
                seen["network"] = None
                return True
            return bool(seen["network"].get("Driver"))

        # Swarm's allocator fills in a new network's driver a moment after the create: until then the engine reports
        # Driver "" and a comparison would see drift that is not there. Wait for it, bounded.
        wait_until(allocated, timeout=ALLOCATION_WAIT, every=0.5)
        return seen["network"]

    def used_by(self) -> list[str]:
        services = self.client.call("GET", "/services", what="service ls") or []
        ids = {self.current["Id"], self.params["name"]}
        return sorted(s["Spec"]["Name"] for s in services
                      if any(n.get("Target") in ids for n in (s["Spec"].get("TaskTemplate", {}).get("Networks") or [])
                             + (s["Spec"].get("Networks") or [])))

    live_view = staticmethod(live_view)
    asked_view = staticmethod(asked_view)
    differences = staticmethod(differences)

    def create_call(self) -> None:
        self.client.call("POST", "/networks/create", data=create_payload(self.params["name"], self.params),
                         what="network create")

    def remove_call(self) -> None:
        self.client.call("DELETE", f"/networks/{self.current['Id']}", what="network rm")

    def after_change(self, before: dict) -> dict:
        if self.client.check_mode:
            return dict(before, **asked_view(self.params))
        created = self.find()
        return live_view(created) if created else {}


ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "driver": {"type": "str", "default": "overlay"},
    "subnet": {"type": "str"},
    "gateway": {"type": "str"},
    "ip_range": {"type": "str"},
    "attachable": {"type": "bool"},
    "internal": {"type": "bool"},
    "encrypted": {"type": "bool"},
    "driver_options": {"type": "dict"},
    "labels": {"type": "dict"},
    "recreate": {"type": "str", "choices": ["never", "when_unused"], "default": "never"},
}


def main() -> None:
    client = SwarmClient(ARGUMENT_SPEC)
    NetworkManager(client).run()


if __name__ == "__main__":
    main()
