"""The hosts filters read what each host registered through hostvars."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.swarmforge.swarm.plugins.filter.hosts import acting_manager, host_values, mapping_of, unreachable_hosts


def test_hosts_whose_probe_was_unreachable_in_play_order() -> None:
    hostvars = {
        "m1": {"probe": {"changed": False, "ansible_facts": {}}},
        "m2": {"probe": {"unreachable": True, "msg": "Connection timed out"}},
        "w1": {"probe": {"unreachable": False}},
        "w2": {"probe": {"unreachable": True}},
        "s1": {},  # nothing registered: not listed
    }
    assert unreachable_hosts(["w2", "m1", "m2", "w1", "s1"], hostvars, "probe") == ["w2", "m2"]
    assert unreachable_hosts(["m1"], hostvars, "probe") == [] and unreachable_hosts([], hostvars, "probe") == []


def test_each_hosts_value_by_host_in_the_order_given() -> None:
    hostvars = {"m1": {"view": {"is_manager": True}}, "w1": {"view": {"is_manager": False}}, "s1": {"other": 1}}
    values = host_values(["w1", "s1", "m1"], hostvars, "view")
    assert values == {"w1": {"is_manager": False}, "m1": {"is_manager": True}}
    assert list(values) == ["w1", "m1"]
    assert host_values([], hostvars, "view") == {} and host_values(None, hostvars, "view") == {}


def test_a_loops_results_as_a_mapping_by_dotted_paths() -> None:
    results = [
        {"item": "worker1", "stdout": "active active", "config": {"name": "web.conf"}, "name": "web.conf-1a2b"},
        {"item": "worker2", "config": {"name": "lb.conf"}, "name": "lb.conf-3c4d"},
    ]
    assert mapping_of(results, "config.name", "name") == {"web.conf": "web.conf-1a2b", "lb.conf": "lb.conf-3c4d"}
    assert mapping_of(results, "item", "stdout", "") == {"worker1": "active active", "worker2": ""}
    assert mapping_of([], "item", "stdout") == {} and mapping_of(None, "item", "stdout") == {}
    with pytest.raises(AnsibleFilterError, match="the item of item 'worker2' has no 'stdout'"):
        mapping_of(results, "item", "stdout")
    with pytest.raises(AnsibleFilterError, match="an item has no 'host'"):
        mapping_of(results, "host", "stdout")


def test_the_acting_manager_named_else_chosen_else_the_first_that_answered() -> None:
    managers = ["manager1", "manager2", "manager3"]
    assert acting_manager("manager3", "manager2", managers, managers) == "manager3"
    assert acting_manager("", "manager2", managers, managers) == "manager2"
    assert acting_manager("", "", managers, ["manager3", "manager2"]) == "manager2"
    # One that answers but is no active manager of the swarm (its engine down, left, locked) is passed over.
    assert acting_manager("", "", managers, managers, ["manager2", "manager3"]) == "manager2"
    assert acting_manager("", "", managers, ["manager1"], []) == "manager1"
    # None answered (check mode on a lab that is down, a role run alone): the inventory's first.
    assert acting_manager("", "", managers, []) == "manager1"
    with pytest.raises(AnsibleFilterError, match="the manager group is empty"):
        acting_manager("", "", [], [])
