# Copyright: swarmforge contributors
# Apache License 2.0
"""Versioned swarm secrets and configs, shared by swarm_secret and swarm_config.

Swarm secrets and configs cannot change once created, and a secret cannot be read back. So each content becomes a
new object `<name>_v<N>` labelled with its name, version and the SHA-256 of its content; the label is what gets
compared. Services that use an older version are moved to the new one (same target file, owner and mode), and old
versions beyond `keep` that nothing uses are removed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_docker import SwarmClient, wait_until

NAME_LABEL = "io.swarmforge.name"
VERSION_LABEL = "io.swarmforge.version"
HASH_LABEL = "io.swarmforge.content-sha256"

VERSIONED_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "data": {"type": "str", "no_log": True},
    "data_is_b64": {"type": "bool", "default": False},
    "src": {"type": "path"},
    "labels": {"type": "dict"},
    "versioned": {"type": "bool", "default": True},
    "keep": {"type": "int", "default": 3},
    "rotate_services": {"type": "bool", "default": True},
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 300},
}
VERSIONED_MODULE_KWARGS: dict[str, Any] = {
    "mutually_exclusive": [("data", "src")],
    "required_if": [("state", "present", ("data", "src"), True)],
}


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def version_of(obj: dict) -> int:
    try:
        return int((obj.get("Spec", {}).get("Labels") or {}).get(VERSION_LABEL, "0"))
    except ValueError:
        return 0


def services_using(services: list[dict], field: str, ids: set[str]) -> list[dict]:
    """Services whose container spec references any of ids (by ID) under field (Secrets or Configs)."""
    return [s for s in services
            if any(ref.get(f"{field[:-1]}ID") in ids
                   for ref in s["Spec"].get("TaskTemplate", {}).get("ContainerSpec", {}).get(field) or [])]


def repoint(spec: dict, field: str, old_ids: set[str], new_id: str, new_name: str) -> dict:
    """A copy of a service spec with references to old_ids moved to the new object, keeping target and mode."""
    spec = json.loads(json.dumps(spec))
    id_key, name_key = f"{field[:-1]}ID", f"{field[:-1]}Name"
    references = spec["TaskTemplate"]["ContainerSpec"][field]
    for ref in references:
        if ref.get(id_key) in old_ids:
            ref[id_key], ref[name_key] = new_id, new_name
    unique = {json.dumps(ref, sort_keys=True): ref for ref in references}
    spec["TaskTemplate"]["ContainerSpec"][field] = list(unique.values())
    return spec


class VersionedObjects:
    """Manages one named secret or config (kind is "secret" or "config") across its versions."""

    def __init__(self, client: SwarmClient, kind: str) -> None:
        self.client = client
        self.kind = kind
        self.field = "Secrets" if kind == "secret" else "Configs"
        self.path = f"/{kind}s"
        self.params = client.params
        self.actions: list[str] = []
        self.result: dict[str, Any] = {"changed": False}
        client.require_manager(f"swarm_{kind}")
        if self.params["keep"] < 1:
            client.fail("keep must be at least 1 (the version in use)")

    # -- reading ------------------------------------------------------------------------------------------------
    def content(self) -> bytes:
        if self.params["src"]:
            try:
                with open(self.params["src"], "rb") as source:
                    return source.read()
            except OSError as error:
                self.client.fail(f"src {self.params['src']}: {error.strerror} (src is read on the managed node; "
                                 "for a file on the controller use data: \"{{ lookup('file', ...) }}\")")
        data = self.params["data"] or ""
        if self.params["data_is_b64"]:
            try:
                return base64.b64decode(data, validate=True)
            except ValueError:
                self.client.fail("data_is_b64 is set but data is not valid base64")
        return data.encode()

    def existing(self) -> list[dict]:
        name = self.params["name"]
        filters = {"label": [f"{NAME_LABEL}={name}"]} if self.params["versioned"] else {"name": [name]}
        found = self.client.call("GET", self.path, params={"filters": json.dumps(filters)},
                                 what=f"{self.kind} ls") or []
        if not self.params["versioned"]:
            found = [obj for obj in found if obj["Spec"]["Name"] == name]
        return sorted(found, key=version_of)

    def services(self) -> list[dict]:
        return self.client.call("GET", "/services", what="service ls") or []

    # -- changing -------------------------------------------------------------------------------------------
    def create(self, name: str, data: bytes, labels: dict[str, str]) -> str:
        self.actions.append(f"create {self.kind} {name}")
        if self.client.check_mode:
            return ""
        created = self.client.call("POST", f"{self.path}/create", what=f"{self.kind} create", data={
            "Name": name, "Labels": labels, "Data": base64.b64encode(data).decode()})
        return created["ID"]

    def remove(self, obj: dict) -> None:
        self.actions.append(f"remove {self.kind} {obj['Spec']['Name']}")
        if not self.client.check_mode:
            self.client.call("DELETE", f"{self.path}/{obj['ID']}", what=f"{self.kind} rm")

    def repoint_services(self, old_ids: set[str], new_id: str, new_name: str) -> list[str]:
        moved = []
        for service in services_using(self.services(), self.field, old_ids):
            name = service["Spec"]["Name"]
            moved.append(name)
            self.actions.append(f"move service {name} to {new_name}")
            if self.client.check_mode:
                continue
            # From a fresh inspect each try: a change landing between (an update out of sequence) is retried.
            self.client.versioned_update(
                f"/services/{service['ID']}", what=f"service update {name}",
                make_spec=lambda current: repoint(current["Spec"], self.field, old_ids, new_id, new_name),
                headers=lambda spec: self.client.registry_auth(
                    spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Image", "")))
        if moved and self.params["wait"] and not self.client.check_mode:
            self.wait_converged(moved)
        return moved

    def wait_converged(self, names: list[str]) -> None:
        pending = set(names)

        def converged() -> bool:
            for service in self.services():
                if service["Spec"]["Name"] not in pending:
                    continue
                state = (service.get("UpdateStatus") or {}).get("State", "completed")
                if state == "completed":
                    pending.discard(service["Spec"]["Name"])
                elif state in ("rollback_completed", "rollback_paused", "paused"):
                    message = (service.get("UpdateStatus") or {}).get("Message", "")
                    self.client.fail(f"service {service['Spec']['Name']} did not take the new {self.kind} "
                                     f"({state}: {message}); its tasks say why: docker service ps "
                                     f"{service['Spec']['Name']} --no-trunc")
            return not pending

        if not wait_until(converged, self.params["wait_timeout"], every=2):
            self.client.fail(f"services {', '.join(sorted(pending))} did not converge on the new {self.kind} within "
                             f"{self.params['wait_timeout']}s")

    # -- states ---------------------------------------------------------------------------------------------
    def present(self) -> None:
        data = self.content()
        digest = content_hash(data)
        objects = self.existing()
        current = objects[-1] if objects else None
        before = self.view(current)
        labels = {k: str(v) for k, v in (self.params["labels"] or {}).items()}
        live_labels = (current or {}).get("Spec", {}).get("Labels") or {}
        same = current is not None and live_labels.get(HASH_LABEL) == digest and \
            all(live_labels.get(k) == v for k, v in labels.items())
        if same:
            target_id, target_name = current["ID"], current["Spec"]["Name"]
        elif self.params["versioned"]:
            version = version_of(current) + 1 if current else 1
            target_name = f"{self.params['name']}_v{version}"
            labels.update({NAME_LABEL: self.params["name"], VERSION_LABEL: str(version), HASH_LABEL: digest})
            target_id = self.create(target_name, data, labels)
        else:
            target_name = self.params["name"]
            if current is not None:
                users = [s["Spec"]["Name"] for s in services_using(self.services(), self.field, {current["ID"]})]
                if users:
                    self.client.fail(f"{self.kind} {target_name} has other content but is used by services "
                                     f"{', '.join(users)}, and an unversioned {self.kind} cannot change: use "
                                     "versioned=true so services move to a new version")
                self.remove(current)
            labels.update({HASH_LABEL: digest})
            target_id = self.create(target_name, data, labels)
        older = {obj["ID"] for obj in objects if obj["ID"] != target_id}
        moved = self.repoint_services(older, target_id, target_name) if self.params["rotate_services"] and older \
            and self.params["versioned"] else []
        self.prune(objects, target_id, moved)
        self.result.update(name=target_name, id=target_id or None,
                           version=int(target_name.rsplit("_v", 1)[1]) if self.params["versioned"] else None,
                           sha256=digest, services_updated=moved)
        self.finish(before, {"name": target_name, "sha256": digest})

    def prune(self, objects: list[dict], target_id: str, moved: list[str]) -> None:
        """Remove versions beyond keep (counting the new one) that no service uses any more."""
        if not self.params["versioned"]:
            return
        keep_old = self.params["keep"] - 1
        older = [obj for obj in objects if obj["ID"] != target_id]
        candidates = older[:-keep_old] if keep_old else older
        if not candidates:
            return
        in_use = set() if self.client.check_mode and moved else {
            ref_id for s in self.services()
            for ref_id in (r.get(f"{self.field[:-1]}ID")
                           for r in s["Spec"].get("TaskTemplate", {}).get("ContainerSpec", {}).get(self.field) or [])}
        for obj in candidates:
            if obj["ID"] not in in_use:
                self.remove(obj)

    def absent(self) -> None:
        objects = self.existing()
        before = self.view(objects[-1] if objects else None)
        users = services_using(self.services(), self.field, {obj["ID"] for obj in objects})
        if users:
            self.client.fail(f"{self.kind} {self.params['name']} is used by services "
                             f"{', '.join(sorted(s['Spec']['Name'] for s in users))}: remove them first")
        for obj in objects:
            self.remove(obj)
        self.result.update(name=None, id=None, version=None, sha256=None, services_updated=[])
        self.finish(before, {})

    @staticmethod
    def view(obj: dict | None) -> dict:
        if obj is None:
            return {}
        return {"name": obj["Spec"]["Name"], "sha256": (obj["Spec"].get("Labels") or {}).get(HASH_LABEL)}

    def finish(self, before: dict, after: dict) -> None:
        self.result["changed"] = bool(self.actions)
        self.result["actions"] = self.actions
        if self.client.diff_mode:
            self.result["diff"] = {"before": before, "after": after}
        self.client.module.exit_json(**self.result)


def run(kind: str) -> None:
    client = SwarmClient(VERSIONED_ARGUMENT_SPEC, **VERSIONED_MODULE_KWARGS)
    manager = VersionedObjects(client, kind)
    getattr(manager, client.params["state"])()
