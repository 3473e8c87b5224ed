#!/usr/bin/python
# Copyright: swarmforge contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_stack
short_description: Deploy a compose stack only when it differs from what runs, then wait until it converged
description:
  - Reads the compose document (files on the manager, merged in order, or an inline I(definition)), normalises each
    service, and compares it with the live services of the stack (image, command, entrypoint, environment,
    replicas or global mode, update, rollback and restart policies, placement, networks, secrets, configs, ports,
    labels, resource limits), so that a change made by hand to those is found. Stack networks that do not exist yet,
    services to create and, with I(prune), services to remove count too.
  - Every other field a compose file can set (healthcheck, logging, cap_add, stop_grace_period, reservations, dns,
    extra_hosts, ulimits, sysctls, init, ...) is compared by content - each service carries the compose definition
    it was deployed with (its own keys and the networks, configs, secrets and volumes it refers to, as normalised
    JSON) in the service label C(io.swarmforge.stack.definition), and a service whose definition differs is deployed
    again, its changed keys named in the result and the diff. A service deployed without that label (by hand, or
    by an older swarmforge) is deployed once to record it.
  - Only when something differs does it run C(docker stack deploy) (the decision and the diff are this module's),
    then waits until every service converged (update completed, every replica running) and fails with the tasks'
    errors when a service rolled back or its tasks keep failing.
  - C(state=absent) removes the stack and waits until its services and networks are gone.
  - C(state=rolled_back) returns the stack's services (or the ones in I(services)) to their previous spec, as
    C(docker service rollback) does, and waits until the rollback completed. A service with no previous spec, one
    whose previous spec equals the live one, or one whose last update already was a rollback is left alone, so a
    rerun changes nothing.
  - Variables in the compose are not interpolated (C(${VAR})); render the compose with Jinja (a template lookup into
    I(definition)) instead.
author: swarmforge contributors (@swarmforge)
extends_documentation_fragment: [swarmforge.swarm.swarmforge_docker]
options:
  name:
    description: Stack name (the namespace of its services, networks, secrets and configs).
    type: str
    required: true
  state:
    description: Whether the stack should run, or be rolled back to its services' previous spec.
    type: str
    choices: [present, absent, rolled_back]
    default: present
  services:
    description:
      - With C(state=rolled_back), the services to roll back, by their name in the compose (C(web)) or in the swarm
        (C(web_web)). Default every service of the stack.
    type: list
    elements: str
  compose_files:
    description: Compose files on the manager, merged in order (mappings key by key).
    type: list
    elements: path
  definition:
    description: The compose document itself, as a dict.
    type: dict
  prune:
    description: Remove services of the stack that the compose no longer has.
    type: bool
    default: false
  with_registry_auth:
    description: Send the manager's registry credentials to the nodes.
    type: bool
    default: false
  resolve_image:
    description: Whether stack deploy asks the registry for the image digest.
    type: str
    choices: [always, changed, never]
    default: always
  wait:
    description: Wait until the stack converged (or is gone, with C(state=absent)).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    description: Reports what would change, with the diff, without deploying.
  diff_mode:
    support: full
    description: The compared fields of every service that differs, live and desired.
  idempotent:
    support: full
    description: Run again with the same arguments, it changes nothing.
seealso:
  - module: swarmforge.swarm.swarm_secret
  - module: swarmforge.swarm.swarm_config
"""

EXAMPLES = r"""
- name: The web stack, rendered from a template
  swarm_stack:
    name: web
    definition: "{{ lookup('ansible.builtin.template', 'stacks/web.yml.j2') | from_yaml }}"
    prune: true
  run_once: true
  delegate_to: "{{ groups['swarm_managers'][0] }}"

- name: Roll the web service back to the spec it had before the last deploy
  swarm_stack:
    name: web
    state: rolled_back
    services: [web]

- name: Remove it
  swarm_stack:
    name: web
    state: absent
"""

RETURN = r"""
services:
  description: What each service of the stack needed (create, update with the fields, remove or nothing).
  returned: always
  type: dict
  sample: {web_web: {action: update, fields: [image]}, web_lb: {action: none, fields: []}}
  contains:
    action: {description: "create, update, remove, rollback or none.", type: str}
    fields: {description: The compared fields that differ., type: list, elements: str}
    reason: {description: Why a service is left alone by a rollback., type: str, returned: with state=rolled_back}
networks_created:
  description: Stack networks that did not exist.
  returned: always
  type: list
  elements: str
converged:
  description: Per service, running and desired tasks after the wait.
  returned: when a deploy happened and wait is true
  type: dict
deploy_output:
  description: What docker stack deploy printed.
  returned: when a deploy happened
  type: str
"""

import json
import os
import tempfile

from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_docker import SwarmClient, wait_until
from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_stack import (
    COMPARED_KEYS,
    DEFINITION_LABEL,
    IMAGE_LABEL,
    STACK_LABEL,
    ComposeError,
    compare,
    deep_merge,
    definition_changes,
    desired_networks,
    desired_services,
    live_service,
    service_definitions,
    task_is_current,
    with_definition_labels,
)

FAILED_TASK_STATES = ("failed", "rejected")


class StackManager:
    def __init__(self, client: SwarmClient) -> None:
        self.client = client
        self.params = client.params
        self.name = self.params["name"]
        client.require_manager("swarm_stack")

    # -- reading ------------------------------------------------------------------------------------------------
    def compose(self) -> dict:
        if self.params["definition"] is not None:
            return self.params["definition"]
        import yaml  # noqa: PLC0415 - PyYAML comes with ansible-core on the controller; the node needs it only here

        merged: dict = {}
        for path in self.params["compose_files"]:
            try:
                with open(path, encoding="utf-8") as source:
                    merged = deep_merge(merged, yaml.safe_load(source) or {})
            except OSError as error:
                self.client.fail(f"compose file {path}: {error.strerror} (compose_files are read on the manager; "
                                 "use definition for a file on the controller)")
        return merged

    def live_services(self) -> list[dict]:
        filters = json.dumps({"label": [f"{STACK_LABEL}={self.name}"]})
        return self.client.call("GET", "/services", params={"filters": filters, "status": "true"},
                                what="service ls") or []

    def networks(self) -> list[dict]:
        return self.client.call("GET", "/networks", what="network ls") or []

    # -- present ------------------------------------------------------------------------------------------------
    def present(self) -> None:
        compose = self.compose()
        try:
            desired = desired_services(self.name, compose)
            wanted_networks = desired_networks(self.name, compose)
            definitions = service_definitions(compose)
        except ComposeError as error:
            self.client.fail(f"stack {self.name}: {error}")
        all_networks = self.networks()
        network_names = {n["Id"]: n["Name"] for n in all_networks}
        live = {s["Spec"]["Name"]: s for s in self.live_services()}
        plan: dict[str, dict] = {}
        before: dict[str, dict] = {}
        after: dict[str, dict] = {}
        for name, wanted in desired.items():
            if name not in live:
                plan[name] = {"action": "create", "fields": sorted(wanted)}
                after[name] = wanted
                continue
            differences = compare(wanted, live_service(live[name], network_names))
            # Every other field a compose file can set: the definition the service was last deployed with.
            definition = definitions[name[len(self.name) + 1:]]
            deployed = (live[name]["Spec"].get("Labels") or {}).get(DEFINITION_LABEL)
            if deployed != definition:
                for field, pair in definition_changes(deployed, definition).items():
                    if field not in COMPARED_KEYS:
                        differences.setdefault(field, pair)
            plan[name] = {"action": "update" if differences else "none", "fields": sorted(differences)}
            if differences:
                before[name] = {field: pair[0] for field, pair in differences.items()}
                after[name] = {field: pair[1] for field, pair in differences.items()}
        for name in sorted(set(live) - set(desired)):
            if self.params["prune"]:
                plan[name] = {"action": "remove", "fields": []}
                before[name] = {"present": True}
                after[name] = {"present": False}
        existing_networks = set(network_names.values())
        missing_networks = [n for n in wanted_networks if n not in existing_networks]
        changed = bool(missing_networks) or any(item["action"] != "none" for item in plan.values())
        result = {"changed": changed, "services": plan, "networks_created": missing_networks}
        if self.client.diff_mode:
            result["diff"] = {"before": json.loads(json.dumps(before)), "after": json.loads(json.dumps(after))}
        if changed and not self.client.check_mode:
            self.unpin_drifted_images(live, plan)
            result["deploy_output"] = self.deploy(with_definition_labels(compose, definitions))
            if self.params["wait"]:
                updated = {name for name, item in plan.items() if item["action"] in ("create", "update")}
                result["converged"] = self.wait_converged(list(desired), updated)
        self.client.module.exit_json(**result)

    def unpin_drifted_images(self, live: dict[str, dict], plan: dict[str, dict]) -> None:
        """`docker stack deploy` keeps a service's running image when the compose names the image the stack last
        deployed (its com.docker.stack.image label): an image changed by hand (`docker service update --image`) would
        stay. Such a service's label first names the image it runs, so that the deploy sees the change; a label
        changes no task."""
        for name, item in plan.items():
            if item["action"] != "update" or "image" not in item["fields"]:
                continue
            service = live[name]
            spec = service["Spec"]
            running = spec["TaskTemplate"]["ContainerSpec"]["Image"]
            labels = spec.setdefault("Labels", {})
            if labels.get(IMAGE_LABEL) == running:
                continue
            labels[IMAGE_LABEL] = running
            self.client.call("POST", f"/services/{service['ID']}/update",
                             params={"version": service["Version"]["Index"]}, data=spec, what=f"service update {name}")

    def deploy(self, compose: dict) -> str:
        handle, path = tempfile.mkstemp(prefix=f"swarmforge-{self.name}-", suffix=".yml")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as sink:
                json.dump(compose, sink)  # JSON is YAML: no dependency needed on the node
            command = ["docker", "stack", "deploy", "--compose-file", path, "--resolve-image",
                       self.params["resolve_image"]]
            if self.params["prune"]:
                command.append("--prune")
            if self.params["with_registry_auth"]:
                command.append("--with-registry-auth")
            command.append(self.name)
            rc, out, err = self.client.module.run_command(command, environ_update=self.cli_environment())
        finally:
            os.unlink(path)
        if rc != 0:
            self.client.fail(f"docker stack deploy {self.name} failed: {(err or out).strip()}", rc=rc, stdout=out,
                             stderr=err)
        return out

    def cli_environment(self) -> dict[str, str]:
        host = self.params["docker_host"]
        environment = {"DOCKER_HOST": host}
        if self.params["tls"] or self.params["ca_path"]:
            environment["DOCKER_TLS_VERIFY"] = "1" if self.params["validate_certs"] else ""
            cert_dir = os.path.dirname(self.params["ca_path"] or self.params["client_cert"] or "")
            if cert_dir:
                environment["DOCKER_CERT_PATH"] = cert_dir
        return environment

    def task_errors(self, service_id: str) -> list[str]:
        tasks = self.client.call("GET", "/tasks", what="task ls",
                                 params={"filters": json.dumps({"service": [service_id]})}) or []
        errors = [f"{t.get('Status', {}).get('State')}: {t.get('Status', {}).get('Err') or t.get('Status', {}).get('Message')}"
                  for t in tasks if t.get("Status", {}).get("State") in FAILED_TASK_STATES]
        return sorted(set(errors))[:5]

    def pending_detail(self, name: str, status: dict, service: dict | None) -> str:
        detail = f"{name}: {status.get('running', 0)}/{status.get('desired', '?')} running"
        errors = self.task_errors(service["ID"]) if service else []
        return f"{detail} ({', '.join(errors)})" if errors else detail

    def running_tasks(self, service_id: str) -> list[dict]:
        tasks = self.client.call("GET", "/tasks", what="task ls",
                                 params={"filters": json.dumps({"service": [service_id], "desired-state": ["running"]})})
        return [task for task in tasks or [] if task.get("Status", {}).get("State") == "running"]

    def wait_converged(self, names: list[str], updated: set[str], rolling_back: bool = False) -> dict:
        """Wait until every service runs its desired tasks. A service this call changed must also run only tasks made
        from its new template (right after a deploy the old tasks still run and the update status may be empty), and
        must not have rolled back; with rolling_back, the rollback must have completed."""
        status: dict[str, dict] = {}
        seen: dict = {}

        def converged() -> bool:
            services = seen["services"] = {s["Spec"]["Name"]: s for s in self.live_services()}
            pending = seen["pending"] = []
            for name in names:
                service = services.get(name)
                if service is None:
                    pending.append(name)
                    continue
                update = (service.get("UpdateStatus") or {}).get("State")
                counts = service.get("ServiceStatus") or {}
                running, desired = counts.get("RunningTasks", 0), counts.get("DesiredTasks", 0)
                status[name] = {"running": running, "desired": desired, "update": update or "none"}
                if name not in updated:
                    if running != desired:
                        pending.append(name)
                    continue
                message = (service.get("UpdateStatus") or {}).get("Message", "")
                if rolling_back and update in ("rollback_paused", "paused"):
                    self.client.fail(f"the rollback of {name} paused: {message}", converged=status)
                if not rolling_back and update in ("rollback_started", "rollback_completed", "rollback_paused",
                                                   "paused"):
                    self.client.fail(f"service {name} did not take the new spec ({update}: {message}); "
                                     f"task errors: {'; '.join(self.task_errors(service['ID'])) or 'none recorded'}",
                                     converged=status)
                finished = update == "rollback_completed" if rolling_back else update in (None, "completed")
                tasks = self.running_tasks(service["ID"])
                if (not finished or running != desired
                        or not all(task_is_current(task, service) for task in tasks)):
                    pending.append(name)
            return not pending

        if wait_until(converged, self.params["wait_timeout"], every=2):
            return status
        details = "; ".join(self.pending_detail(name, status.get(name, {}), seen["services"].get(name))
                            for name in seen["pending"])
        self.client.fail(f"stack {self.name} did not converge within {self.params['wait_timeout']}s: "
                         f"{details}", converged=status)
        return status

    # -- rolled_back --------------------------------------------------------------------------------------------
    def rolled_back(self) -> None:
        live = {s["Spec"]["Name"]: s for s in self.live_services()}
        if not live:
            self.client.fail(f"stack {self.name} has no services to roll back (deploy it first)")
        wanted = self.params["services"] or [name[len(self.name) + 1:] for name in live]
        unknown = [n for n in wanted if n not in live and f"{self.name}_{n}" not in live]
        if unknown:
            self.client.fail(f"stack {self.name} has no service {', '.join(unknown)} (it has: "
                             f"{', '.join(sorted(name[len(self.name) + 1:] for name in live))})")
        network_names = {n["Id"]: n["Name"] for n in self.networks()}
        plan: dict[str, dict] = {}
        before: dict[str, dict] = {}
        after: dict[str, dict] = {}
        for short in wanted:
            name = short if short in live else f"{self.name}_{short}"
            service = live[name]
            previous = service.get("PreviousSpec")
            last_update = (service.get("UpdateStatus") or {}).get("State", "")
            if previous is None:
                plan[name] = {"action": "none", "fields": [], "reason": "no previous spec"}
                continue
            if last_update.startswith("rollback"):
                plan[name] = {"action": "none", "fields": [], "reason": f"already rolled back ({last_update})"}
                continue
            differences = compare(live_service({"Spec": previous}, network_names),
                                  live_service(service, network_names))
            if not differences:
                plan[name] = {"action": "none", "fields": [], "reason": "the previous spec is the live one"}
                continue
            plan[name] = {"action": "rollback", "fields": sorted(differences)}
            before[name] = {field: pair[0] for field, pair in differences.items()}
            after[name] = {field: pair[1] for field, pair in differences.items()}
        changed = any(item["action"] == "rollback" for item in plan.values())
        result = {"changed": changed, "services": plan, "networks_created": []}
        if self.client.diff_mode:
            result["diff"] = {"before": json.loads(json.dumps(before)), "after": json.loads(json.dumps(after))}
        if changed and not self.client.check_mode:
            rolling = [name for name, item in plan.items() if item["action"] == "rollback"]
            for name in rolling:
                self.rollback(live[name])
            if self.params["wait"]:
                result["converged"] = self.wait_converged(rolling, set(rolling), rolling_back=True)
        self.client.module.exit_json(**result)

    def rollback(self, service: dict) -> None:
        """What `docker service rollback` does: an update carrying the live spec, asking for the previous one."""
        self.client.versioned_update(f"/services/{service['ID']}", make_spec=lambda current: current["Spec"],
                                     params={"rollback": "previous"},
                                     what=f"service rollback {service['Spec']['Name']}")

    # -- absent -------------------------------------------------------------------------------------------------
    def absent(self) -> None:
        services = self.live_services()
        networks = [n for n in self.networks() if (n.get("Labels") or {}).get(STACK_LABEL) == self.name]
        changed = bool(services or networks)
        result = {"changed": changed, "services": {s["Spec"]["Name"]: {"action": "remove", "fields": []}
                                                   for s in services}, "networks_created": []}
        if self.client.diff_mode:
            result["diff"] = {"before": {"services": sorted(result["services"]),
                                         "networks": sorted(n["Name"] for n in networks)},
                              "after": {"services": [], "networks": []}}
        if changed and not self.client.check_mode:
            rc, out, err = self.client.module.run_command(["docker", "stack", "rm", self.name],
                                                          environ_update=self.cli_environment())
            if rc != 0:
                self.client.fail(f"docker stack rm {self.name} failed: {(err or out).strip()}")
            if self.params["wait"]:
                self.wait_gone()
        self.client.module.exit_json(**result)

    def wait_gone(self) -> None:
        def gone() -> bool:
            networks = [n for n in self.networks() if (n.get("Labels") or {}).get(STACK_LABEL) == self.name]
            return not self.live_services() and not networks

        if wait_until(gone, self.params["wait_timeout"], every=2):
            return
        self.client.fail(f"stack {self.name} was removed but its services or networks are still there after "
                         f"{self.params['wait_timeout']}s")


ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent", "rolled_back"], "default": "present"},
    "services": {"type": "list", "elements": "str"},
    "compose_files": {"type": "list", "elements": "path"},
    "definition": {"type": "dict"},
    "prune": {"type": "bool", "default": False},
    "with_registry_auth": {"type": "bool", "default": False},
    "resolve_image": {"type": "str", "choices": ["always", "changed", "never"], "default": "always"},
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 600},
}


def main() -> None:
    client = SwarmClient(ARGUMENT_SPEC, mutually_exclusive=[("compose_files", "definition")],
                         required_if=[("state", "present", ("compose_files", "definition"), True)])
    manager = StackManager(client)
    getattr(manager, client.params["state"])()


if __name__ == "__main__":
    main()
