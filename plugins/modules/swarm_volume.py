#!/usr/bin/python
# Copyright: swarmforge contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_volume
short_description: Named volumes on a node, NFS-backed or any driver, with option drift detected
description:
  - Volumes belong to one node's engine, so this runs on every node that needs the volume.
  - C(docker volume create) with a name that exists returns the old volume and silently ignores new options. This
    module compares the live driver, options and labels with the asked ones and fails with the differences, or, with
    I(recreate=when_unused), removes and creates the volume while no container uses it.
  - I(nfs) builds the local driver's options for an NFS mount (C(type=nfs), C(o=addr=...), C(device=:/path)).
author: swarmforge contributors (@swarmforge)
extends_documentation_fragment: [swarmforge.swarm.swarmforge_docker]
options:
  name:
    description: Volume name.
    type: str
    required: true
  state:
    description: Whether the volume should exist. Removing never deletes data on an NFS server.
    type: str
    choices: [present, absent]
    default: present
  driver:
    description: Volume driver.
    type: str
    default: local
  driver_options:
    description: Driver options, compared key by key with the live ones.
    type: dict
  nfs:
    description: An NFS mount through the local driver; mutually exclusive with I(driver_options).
    type: dict
    suboptions:
      server:
        description: NFS server address.
        type: str
        required: true
      path:
        description: Exported path on the server.
        type: str
        required: true
      version:
        description: NFS version.
        type: str
        default: "4"
      options:
        description: Further mount options (e.g. C(rw), C(nolock), C(soft)).
        type: list
        elements: str
        default: [rw]
  labels:
    description: Volume labels, compared key by key.
    type: dict
  recreate:
    description: C(never) fails on drift; C(when_unused) replaces the volume when no container uses it.
    type: str
    choices: [never, when_unused]
    default: never
attributes:
  check_mode:
    support: full
    description: Compares and reports what would change, changing nothing.
  diff_mode:
    support: full
    description: Shows what differs, before and after.
  idempotent:
    support: full
    description: Run again with the same arguments, it changes nothing.
seealso:
  - module: swarmforge.swarm.swarm_network
"""

EXAMPLES = r"""
- name: The shared html folder, from the storage host
  swarm_volume:
    name: web_html
    nfs:
      server: 172.28.88.31
      path: /srv/nfs/html
      options: [rw, nolock, soft]
"""

RETURN = r"""
volume:
  description: Driver, options and labels of the volume after the change (empty when absent).
  returned: always
  type: dict
differences:
  description: Field, live value and asked value for each difference.
  returned: always
  type: list
  elements: dict
used_by:
  description: Containers on this node that use the volume.
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

from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_docker import NotFound, SwarmClient
from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_immutable import ImmutableObject


def nfs_options(nfs: dict) -> dict:
    mount = [f"addr={nfs['server']}", f"nfsvers={nfs['version']}", *nfs["options"]]
    return {"type": "nfs", "o": ",".join(mount), "device": f":{nfs['path']}"}


def asked_view(params: dict) -> dict:
    options = nfs_options(params["nfs"]) if params.get("nfs") else params.get("driver_options")
    asked = {"driver": params["driver"]}
    if options is not None:
        asked["options"] = {k: str(v) for k, v in options.items()}
    if params.get("labels") is not None:
        asked["labels"] = {k: str(v) for k, v in params["labels"].items()}
    return asked


def live_view(volume: dict) -> dict:
    return {"driver": volume.get("Driver"), "options": volume.get("Options") or {}, "labels": volume.get("Labels") or {}}


def differences(live: dict, asked: dict) -> list[dict]:
    found = []
    if live["driver"] != asked["driver"]:
        found.append({"field": "driver", "live": live["driver"], "asked": asked["driver"]})
    for field in ("options", "labels"):
        if field not in asked:
            continue
        keys = set(asked[field]) | (set(live[field]) if field == "options" else set())
        changed = sorted(k for k in keys if live[field].get(k) != asked[field].get(k))
        if changed:
            found.append({"field": field, "live": {k: live[field].get(k) for k in changed},
                          "asked": {k: asked[field].get(k) for k in changed}})
    return found


class VolumeManager(ImmutableObject):
    kind = "volume"
    users_noun = "containers"
    drift_hint = ("; Docker would silently keep the old options. Set recreate=when_unused to replace it while no "
                  "container uses it")
    in_use_fix = "stop them first"
    absent_fix = "remove them (or their service) first"

    def find(self) -> dict | None:
        try:
            return self.client.call("GET", f"/volumes/{self.params['name']}", what="volume inspect")
        except NotFound:
            return None

    def used_by(self) -> list[str]:
        containers = self.client.call("GET", "/containers/json", what="container ls", params={
            "all": "1", "filters": json.dumps({"volume": [self.params["name"]]})}) or []
        return sorted(name.lstrip("/") for c in containers for name in c.get("Names", [])[:1])

    live_view = staticmethod(live_view)
    asked_view = staticmethod(asked_view)
    differences = staticmethod(differences)

    def create_call(self) -> None:
        asked = asked_view(self.params)
        self.client.call("POST", "/volumes/create", what="volume create", data={
            "Name": self.params["name"], "Driver": asked["driver"], "DriverOpts": asked.get("options", {}),
            "Labels": asked.get("labels", {})})

    def remove_call(self) -> None:
        self.client.call("DELETE", f"/volumes/{self.params['name']}", what="volume rm")

    def after_change(self, before: dict) -> dict:
        return dict({"options": before.get("options", {})}, **asked_view(self.params))


ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "driver": {"type": "str", "default": "local"},
    "driver_options": {"type": "dict"},
    "nfs": {"type": "dict", "options": {
        "server": {"type": "str", "required": True},
        "path": {"type": "str", "required": True},
        "version": {"type": "str", "default": "4"},
        "options": {"type": "list", "elements": "str", "default": ["rw"]},
    }},
    "labels": {"type": "dict"},
    "recreate": {"type": "str", "choices": ["never", "when_unused"], "default": "never"},
}


def main() -> None:
    client = SwarmClient(ARGUMENT_SPEC, mutually_exclusive=[("nfs", "driver_options")])
    VolumeManager(client).run()


if __name__ == "__main__":
    main()
