# Copyright: swarmforge contributors
# Apache License 2.0
"""Filters over the play's hosts and what each registered, in place of zipping a host list with the same list
mapped through hostvars and picking pairs apart by index in Jinja."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def host_values(hosts, hostvars, name):
    """What each host of hosts holds in the variable named name (a registered result, a fact), as host: value in the
    order of hosts; hosts without it are left out. Selected on afterwards with dict2items and the value's fields."""
    found = {}
    for host in hosts or []:
        values = hostvars[host]
        if name in values:
            found[host] = values[name]
    return found


def unreachable_hosts(hosts, hostvars, result):
    """The hosts of hosts, in order, whose registered result (the variable named result) says Ansible could not reach
    them (a play run with ignore_unreachable registers that instead of failing); hosts without it are not listed."""
    return [host for host, registered in host_values(hosts, hostvars, result).items() if (registered or {}).get("unreachable")]


def _path(item, path, default):
    value = item
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


_MISSING = object()


def mapping_of(items, key, value, default=_MISSING):
    """{item's key: item's value} for each item (a dict: a loop's registered results, for instance) of items, in
    order; key and value are dotted paths ("__swarm_stacks_config.name"). An item without the key fails; one without
    the value fails unless default is given, which then stands in for it."""
    found = {}
    for item in items or []:
        name = _path(item, key, _MISSING)
        if name is _MISSING:
            raise AnsibleFilterError(f"mapping_of: an item has no {key!r}: {sorted(item) if isinstance(item, dict) else item!r}")
        held = _path(item, value, default)
        if held is _MISSING:
            raise AnsibleFilterError(f"mapping_of: the item of {key} {name!r} has no {value!r}")
        found[name] = held
    return found


def acting_manager(named, acting, managers, answering, live=None):
    """The manager a role acts through: the one the inventory names (named, when not empty), else the one the swarm
    role chose from live state this run (acting, when not empty), else the first of managers (the role's manager
    group, in inventory order) that is an active manager of the swarm (live: preflight_swarm.managers), else the first
    that answered this run (answering: preflight_managers), else the first of managers."""
    if named:
        return named
    if acting:
        return acting
    managers = list(managers or [])
    active = [host for host in managers if host in (live or [])]
    reached = [host for host in managers if host in (answering or [])]
    if not (active or reached or managers):
        raise AnsibleFilterError("acting_manager: no manager to act through: the manager group is empty")
    return (active or reached or managers)[0]


class FilterModule:
    def filters(self):
        return {"unreachable_hosts": unreachable_hosts, "host_values": host_values, "mapping_of": mapping_of,
                "acting_manager": acting_manager}
