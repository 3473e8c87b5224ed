#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: swarmforge contributors
# Apache License 2.0

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
author: swarmforge contributors
extends_documentation_fragment: [swarmforge_docker]
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
  diff_mode:
    support: full
  idempotent:
    support: full
seealso:
  - module: swarm_network
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

from ansible.module_utils.swarmforge_docker import NotFound, SwarmClient


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


class VolumeManager:
    def __init__(self, client: SwarmClient) -> None:
        self.client = client
        self.params = client.params
        self.actions: list[str] = []
        try:
            self.volume = client.call("GET", f"/volumes/{self.params['name']}", what="volume inspect")
        except NotFound:
            self.volume = None

    def used_by(self) -> list[str]:
        if self.volume is None:
            return []
        containers = self.client.call("GET", "/containers/json", what="container ls", params={
            "all": "1", "filters": json.dumps({"volume": [self.params["name"]]})}) or []
        return sorted(name.lstrip("/") for c in containers for name in c.get("Names", [])[:1])

    def remove(self) -> None:
        self.actions.append(f"remove {self.params['name']}")
        if not self.client.check_mode:
            self.client.call("DELETE", f"/volumes/{self.params['name']}", what="volume rm")

    def create(self) -> None:
        self.actions.append(f"create {self.params['name']}")
        if not self.client.check_mode:
            asked = asked_view(self.params)
            self.client.call("POST", "/volumes/create", what="volume create", data={
                "Name": self.params["name"], "Driver": asked["driver"], "DriverOpts": asked.get("options", {}),
                "Labels": asked.get("labels", {})})

    def run(self) -> None:
        before = live_view(self.volume) if self.volume else {}
        users = self.used_by()
        found: list[dict] = []
        if self.params["state"] == "absent":
            if self.volume is not None:
                if users:
                    self.client.fail(f"volume {self.params['name']} is used by containers {', '.join(users)}: "
                                     "remove them (or their service) first", used_by=users)
                self.remove()
        elif self.volume is None:
            self.create()
        else:
            found = differences(before, asked_view(self.params))
            if found:
                listing = "; ".join(f"{d['field']}: {d['live']} -> {d['asked']}" for d in found)
                if self.params["recreate"] != "when_unused":
                    self.client.fail(f"volume {self.params['name']} differs from what is asked ({listing}); Docker "
                                     "would silently keep the old options. Set recreate=when_unused to replace it "
                                     "while no container uses it", differences=found, used_by=users)
                if users:
                    self.client.fail(f"volume {self.params['name']} differs from what is asked ({listing}) but is used "
                                     f"by containers {', '.join(users)}: stop them first", differences=found,
                                     used_by=users)
                self.remove()
                self.create()
        after = {} if self.params["state"] == "absent" else (before if not self.actions else asked_view(self.params))
        if after and "options" not in after:
            after = dict(after, options=before.get("options", {}))
        result = {"changed": bool(self.actions), "actions": self.actions, "differences": found, "used_by": users,
                  "volume": after}
        if self.client.diff_mode:
            result["diff"] = {"before": before, "after": after}
        self.client.module.exit_json(**result)


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
