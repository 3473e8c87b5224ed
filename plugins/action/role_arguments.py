# Copyright: swarmforge contributors
# Apache License 2.0
"""Validate, on the controller and in one task per host, every role a playbook will run against that host's
variables: the same check as each role's own validation task (meta/argument_specs.yml, with the role's defaults for
what the inventory does not set), done before any host changes, with one message that names the host, the role, the
variable and the fix."""

from __future__ import annotations

import difflib
import inspect
import os
import re

import yaml
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.action import ActionBase

try:
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader

PASSED = "every value the roles will read is valid"


def parse_entry(entry: str) -> tuple[str, str]:
    """`role` or `role:entry` -> (role, entry point)."""
    role, _colon, point = entry.partition(":")
    if not role or ":" in point:
        raise AnsibleActionFail(f"roles: {entry!r} is neither ROLE nor ROLE:ENTRY_POINT")
    return role, point or "main"


def read_specs(roles_path: str) -> dict[str, dict]:
    """Every role's meta/argument_specs.yml (or .yaml) under roles_path, by role, read once per host."""
    specs: dict[str, dict] = {}
    for role in sorted(os.listdir(roles_path)) if os.path.isdir(roles_path) else []:
        for name in ("argument_specs.yml", "argument_specs.yaml"):
            path = os.path.join(roles_path, role, "meta", name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as handle:
                    specs[role] = (yaml.load(handle, Loader=SafeLoader) or {}).get("argument_specs") or {}
                break
    return specs


def load_spec(specs: dict[str, dict], roles_path: str, role: str, point: str) -> dict:
    """The options of one entry point of a role, from read_specs."""
    if role not in specs:
        raise AnsibleActionFail(f"role {role}: no meta/argument_specs.yml under {os.path.join(roles_path, role)}; "
                                "check the role's name in preflight_roles")
    if point not in specs[role]:
        raise AnsibleActionFail(f"role {role} has no entry point {point!r} "
                                f"(it has {', '.join(sorted(specs[role])) or 'none'})")
    return specs[role][point].get("options") or {}


def known_names(specs: dict[str, dict]) -> set[str]:
    """Every variable any role's spec names, under any entry point."""
    return {name for entries in specs.values() for spec in entries.values() for name in (spec or {}).get("options") or {}}


def misspelt(names, known: set[str], prefixes: tuple[str, ...]) -> list[str]:
    """Variables that carry a role's prefix, are named by no spec, and are close to one that is: likely typos."""
    advice = []
    for name in sorted(names):
        if name in known or not name.startswith(prefixes):
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.85)
        if close:
            advice.append(f"{name} is not a variable of any role: did you mean {close[0]}?")
    return advice


UNSUPPORTED = re.compile(r"^(?:Unsupported parameters for .*?: )?(?P<path>[\w.-]+)\. Supported parameters include: "
                         r"(?P<known>.*?)\.?$")
INTERNAL_TYPE = re.compile(r": <class '[\w.]+'> cannot be converted to an? \w+")


def readable(message: str) -> str:
    """A validator message as an operator reads it: an unknown key in an entry, with the key it probably meant."""
    found = UNSUPPORTED.match(message)
    if not found:
        # "...: <class 'ansible...._AnsibleTaggedList'> cannot be converted to a dict": Ansible's internal type names
        # say nothing to an operator; the sentence before it already names the type given and the type needed.
        return INTERNAL_TYPE.sub("", message).rstrip(".")
    *parent, key = found.group("path").split(".")
    known = [name.strip() for name in found.group("known").split(",") if name.strip()]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    guess = f" (did you mean {close[0]}?)" if close else ""
    where = f"an entry of {'.'.join(parent)}" if parent else "the role"
    return f"{key} is not a key of {where}{guess}; its keys are {', '.join(known)}"


def masked(message: str, secrets: list[str]) -> str:
    """A validation message with the values of no_log options blanked out."""
    for secret in secrets:
        message = message.replace(secret, "********")
    return message


# How the loader is asked to trust a file's templates (ansible-core 2.19; 2.17 has no such option), decided once.
_TRUSTED = {"trusted_as_template": True} if "trusted_as_template" in inspect.signature(
    DataLoader.load_from_file).parameters else {}


class ActionModule(ActionBase):
    """Validate the roles' arguments for this host."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def _role_defaults(self, roles_path: str, role: str) -> dict:
        """The role's defaults/main.yml, read through Ansible's loader, its templates trusted as the role's own.
        ansible-core 2.19 templates only trusted text, and trusts a file's only when asked (or when the playbook
        loaded the role already, whose cached copy it then returns): a default that reads another variable was
        otherwise checked as its raw template text. 2.17's loader trusts every template and has no such option."""
        for name in ("main.yml", "main.yaml"):
            path = os.path.join(roles_path, role, "defaults", name)
            if os.path.isfile(path):
                return self._loader.load_from_file(path, **_TRUSTED) or {}
        return {}

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        roles = self._task.args.get("roles") or []
        roles_path = self._task.args.get("roles_path")
        if not isinstance(roles, list) or not all(isinstance(entry, str) for entry in roles):
            raise AnsibleActionFail("roles must be a list of role names (ROLE or ROLE:ENTRY_POINT)")
        if not roles_path:
            raise AnsibleActionFail("roles_path is required: the folder that holds the roles")
        host = task_vars.get("inventory_hostname", "this host")
        problems: list[str] = []
        checked = 0
        specs = read_specs(roles_path)
        for entry in dict.fromkeys(roles):
            role, point = parse_entry(entry)
            options = load_spec(specs, roles_path, role, point)
            defaults = self._role_defaults(roles_path, role)
            values = {}
            for name in options:
                if name in task_vars:
                    raw = task_vars[name]
                elif name in defaults:
                    raw = defaults[name]  # as the role would see it, e.g. a default that reads an -e variable
                else:
                    continue
                try:
                    values[name] = self._templar.template(raw)
                except AnsibleError as error:
                    problems.append(f"role {entry}: {name} cannot be resolved ({error.message})")
            checked += len(values)
            outcome = ArgumentSpecValidator(options).validate(values)
            secrets = [str(values[name]) for name, option in options.items()
                       if (option or {}).get("no_log") and values.get(name) not in (None, "")]
            problems.extend(f"role {entry}: {masked(readable(message), secrets)}" for message in outcome.error_messages)
        prefixes = tuple(parse_entry(entry)[0] + "_" for entry in roles)
        for advice in misspelt(task_vars, known_names(specs), prefixes):
            result.setdefault("warnings", []).append(f"{host}: {advice}")
        result.update(changed=False, roles=list(dict.fromkeys(roles)), checked=checked)
        if problems:
            result.update(failed=True, problems=problems,
                          msg=f"{host}: the inventory gives values the roles refuse: " + "; ".join(problems)
                          + f". Fix them in the inventory (group_vars or host_vars of {host}, or -e); each role "
                          "documents its variables in roles/ROLE/meta/argument_specs.yml. Nothing was changed.")
        else:
            result["msg"] = PASSED
        return result
