# Copyright: swarmforge contributors
# Apache License 2.0
"""Objects Docker cannot change in place (networks, volumes), shared by swarm_network and swarm_volume.

The decision is the same for both: create what is missing; compare what exists with what is asked; on drift fail
with the differences, or, when asked to, remove and create it again while nothing uses it; never remove what is in
use. Subclasses say how to find, describe, create and remove their object, and who uses it.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_docker import SwarmClient


class ImmutableObject:
    kind = ""  # "network", "volume"
    users_noun = ""  # who uses one: "services", "containers"
    drift_hint = ""  # after the listing of differences, why and what to set
    in_use_fix = ""  # what to do when it drifted but is in use
    absent_fix = ""  # what to do before removing one in use

    def __init__(self, client: SwarmClient) -> None:
        self.client = client
        self.params = client.params
        self.actions: list[str] = []
        self.current = self.find()

    # -- what a subclass provides ---------------------------------------------------------------------------
    def find(self) -> dict | None:
        raise NotImplementedError

    def used_by(self) -> list[str]:
        raise NotImplementedError

    # Pure functions of the module, set as staticmethods: live_view(obj), asked_view(params), differences(live, asked).
    live_view: Any = None
    asked_view: Any = None
    differences: Any = None

    def create_call(self) -> None:
        raise NotImplementedError

    def remove_call(self) -> None:
        raise NotImplementedError

    def after_change(self, before: dict) -> dict:
        """The view after a create or a replace (check mode: what it would be)."""
        raise NotImplementedError

    # -- the shared decision --------------------------------------------------------------------------------
    def remove(self) -> None:
        self.actions.append(f"remove {self.params['name']}")
        if not self.client.check_mode:
            self.remove_call()

    def create(self) -> None:
        self.actions.append(f"create {self.params['name']}")
        if not self.client.check_mode:
            self.create_call()

    def run(self) -> None:
        name = self.params["name"]
        before = self.live_view(self.current) if self.current else {}
        users = self.used_by() if self.current else []
        found: list[dict] = []
        if self.params["state"] == "absent":
            if self.current is not None:
                if users:
                    self.client.fail(f"{self.kind} {name} is used by {self.users_noun} {', '.join(users)}: "
                                     f"{self.absent_fix}", used_by=users)
                self.remove()
        elif self.current is None:
            self.create()
        else:
            found = self.differences(before, self.asked_view(self.params))
            if found:
                listing = "; ".join(f"{d['field']}: {d['live']} -> {d['asked']}" for d in found)
                if self.params["recreate"] != "when_unused":
                    self.client.fail(f"{self.kind} {name} differs from what is asked ({listing}){self.drift_hint}",
                                     differences=found, used_by=users)
                if users:
                    self.client.fail(f"{self.kind} {name} differs from what is asked ({listing}) but is used by "
                                     f"{self.users_noun} {', '.join(users)}: {self.in_use_fix}",
                                     differences=found, used_by=users)
                self.remove()
                self.create()
        if self.params["state"] == "absent":
            after: dict[str, Any] = {}
        else:
            after = self.after_change(before) if self.actions else before
        result = {"changed": bool(self.actions), "actions": self.actions, "differences": found, "used_by": users,
                  self.kind: after}
        if self.client.diff_mode:
            result["diff"] = {"before": before, "after": after}
        self.client.module.exit_json(**result)
