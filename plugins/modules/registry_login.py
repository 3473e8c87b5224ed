#!/usr/bin/python
# Copyright: swarmforge contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: registry_login
short_description: A node's login to a private registry (docker login), checked by its engine, kept in its config
description:
  - What C(docker login) does on a node, idempotently. The login is kept where the docker CLI keeps it (the
    C(auths) entry of the registry in C(~/.docker/config.json) of the user the module runs as, root with become),
    which C(docker pull) and C(docker stack deploy --with-registry-auth) read; other entries of the file are kept.
  - When the entry differs from the asked login (or O(verify=always)), the node's engine first logs in to the
    registry (the Engine API's C(/auth)), so wrong credentials, a registry the node cannot reach or a CA the engine
    does not trust fail here, on the node, with the fix, and nothing is written. An unchanged login is not sent again.
  - The password is never logged nor shown in a diff; the diff shows the registry and user name.
author: swarmforge contributors (@swarmforge)
extends_documentation_fragment: [swarmforge.swarm.swarmforge_docker]
options:
  registry:
    description: The registry as image names spell it, C(host[:port]).
    type: str
    required: true
  username:
    description: The login name. Required with O(state=present).
    type: str
  password:
    description: Its password, from vault. Required with O(state=present).
    type: str
  state:
    description: C(present) logs in; C(absent) removes the registry's login from the file (docker logout).
    type: str
    choices: [present, absent]
    default: present
  verify:
    description: C(changed) has the engine check the login only when it is written; C(always) on every run.
    type: str
    choices: [changed, always]
    default: changed
  config_path:
    description: The docker CLI's configuration file; default C(config.json) in C($DOCKER_CONFIG), else in
      C(.docker) of the home folder of the user the module runs as.
    type: path
attributes:
  check_mode:
    support: full
    details: Compares and reports; neither the engine's login nor the file's write happens.
    description: Compares and reports what would change, changing nothing.
  diff_mode:
    support: full
    description: Shows what differs, before and after.
  idempotent:
    support: full
    description: Run again with the same arguments, it changes nothing.
notes:
  - A credential helper (C(credsStore) or a C(credHelpers) entry for the registry) would take precedence over the
    C(auths) entry, so the module refuses then, naming the setting.
seealso:
  - module: swarmforge.swarm.registry_seed
"""

EXAMPLES = r"""
- name: Every node logged in to the cluster's registry
  registry_login:
    registry: registry.cluster.com:5000
    username: deploy
    password: "{{ vault_registry_password }}"
"""

RETURN = r"""
config_path:
  description: The file that holds the login.
  returned: always
  type: str
verified:
  description: Whether the engine checked the login with the registry in this run.
  returned: always
  type: bool
"""

import base64
import json
import os
import pwd
import tempfile

from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_docker import APIError, SwarmClient

ARGUMENT_SPEC = {
    "registry": {"type": "str", "required": True},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "verify": {"type": "str", "choices": ["changed", "always"], "default": "changed"},
    "config_path": {"type": "path"},
}


def default_config_path():
    folder = os.environ.get("DOCKER_CONFIG") or os.path.join(pwd.getpwuid(os.geteuid()).pw_dir, ".docker")
    return os.path.join(folder, "config.json")


def encode(username, password):
    return base64.b64encode((f"{username}:{password}").encode()).decode()


def decoded_username(auth):
    try:
        return base64.b64decode(auth).decode().split(":", 1)[0]
    except (ValueError, UnicodeDecodeError):
        return "(unreadable)"


class RegistryLogin:
    def __init__(self, client):
        self.client = client
        self.params = client.params
        self.path = self.params["config_path"] or default_config_path()

    def read(self):
        try:
            with open(self.path, encoding="utf-8") as handle:
                config = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            self.client.fail(f"{self.path} cannot be read as the docker CLI's configuration ({error}): fix or remove it")
        if not isinstance(config, dict):
            self.client.fail(f"{self.path} is not a JSON object: fix or remove it")
        return config

    def write(self, config):
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            os.makedirs(folder, mode=0o700)
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".config.json.")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(config, handle, indent="\t")
                handle.write("\n")
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise

    def verify(self):
        registry, username = self.params["registry"], self.params["username"]
        try:
            self.client.api.login(username=username, password=self.params["password"], registry=registry,
                                  reauth=True)
        except APIError as error:
            explanation = getattr(error, "explanation", None) or str(error)
            if "certificate" in explanation.lower() or "x509" in explanation.lower():
                fix = ("this engine does not trust the registry's certificate: give its CA in "
                       "docker_engine_registry_cas (or, for a registry without TLS, list it in insecure-registries)")
            elif "401" in explanation or "unauthorized" in explanation.lower():
                fix = ("the registry refused this user name and password: check the password in vault against the "
                       "registry's users (registry_users)")
            else:
                fix = "check that the registry runs and that this node reaches it"
            self.client.fail(f"{self.path}: the engine could not log in to {registry} as {username}: {explanation} ({fix}). Nothing was written.")

    def run(self):
        params = self.params
        registry, state = params["registry"], params["state"]
        if state == "present" and not (params["username"] and params["password"]):
            self.client.fail(f"registry_login of {registry}: username and password are both needed (a password from vault)")
        config = self.read()
        helper = config.get("credHelpers", {}).get(registry) or config.get("credsStore")
        if helper and state == "present":
            self.client.fail(f"{self.path} names the credential helper {helper!r}, which the docker CLI would ask instead of the "
                             "login this module keeps: remove credsStore/credHelpers from it or log in with that "
                             "helper yourself")
        auths = config.get("auths") or {}
        current = (auths.get(registry) or {}).get("auth")
        wanted = encode(params["username"], params["password"]) if state == "present" else None
        changed = current != wanted
        before = {"registry": registry, "username": decoded_username(current) if current else None}
        after = {"registry": registry, "username": params["username"] if state == "present" else None}
        if changed and current and wanted and before["username"] == after["username"]:
            before["password"], after["password"] = "(the old one)", "(a new one)"
        verified = False
        if not self.client.check_mode:
            if state == "present" and (changed or params["verify"] == "always"):
                self.verify()
                verified = True
            if changed:
                if wanted:
                    entry = dict(auths.get(registry) or {})
                    entry["auth"] = wanted
                    auths[registry] = entry
                else:
                    auths.pop(registry, None)
                config["auths"] = auths
                self.write(config)
        result = {"changed": changed, "config_path": self.path, "verified": verified}
        if self.client.diff_mode:
            result["diff"] = {"before": before, "after": after,
                              "before_header": f"{self.path}: {registry}",
                              "after_header": f"{self.path}: {registry}"}
        self.client.module.exit_json(**result)


def main():
    client = SwarmClient(ARGUMENT_SPEC)
    RegistryLogin(client).run()


if __name__ == "__main__":
    main()
