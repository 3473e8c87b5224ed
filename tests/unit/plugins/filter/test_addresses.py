"""The address filters split member addresses and networks by IP version and pick addresses inside a CIDR, and refuse
an entry that is no address, naming the variable it came from."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.swarmforge.swarm.plugins.filter.addresses import (
    advertise_address,
    duplicates,
    host_addresses,
    in_network,
    ip_version,
    overlapping,
    shared_values,
)
from jinja2 import Undefined

ENTRIES = ["172.28.88.11", "fd00:88::11", "10.0.0.0/8", "fd00::/64", "192.168.1.5/24"]


def test_entries_are_split_by_version_as_given() -> None:
    assert ip_version(ENTRIES, 4) == ["172.28.88.11", "10.0.0.0/8", "192.168.1.5/24"]
    assert ip_version(ENTRIES, "6") == ["fd00:88::11", "fd00::/64"]
    assert ip_version([], 4) == [] and ip_version(None, 6) == []


def test_an_entry_that_is_no_address_is_refused_with_the_variable_named() -> None:
    with pytest.raises(AnsibleFilterError, match=r"host_prep_firewall_extra_cidrs: '10\.0\.0\.0/33' is neither"):
        ip_version(["172.28.88.11", "10.0.0.0/33"], 4, "host_prep_firewall_extra_cidrs")
    with pytest.raises(AnsibleFilterError, match="must be 4 or 6"):
        ip_version(ENTRIES, 5)


def test_addresses_inside_a_network_keep_their_order() -> None:
    addresses = ["10.1.2.3", "172.28.88.11", "fd00:88::11", "172.28.88.12"]
    assert in_network(addresses, "172.28.88.0/24") == ["172.28.88.11", "172.28.88.12"]
    assert in_network(addresses, "fd00:88::/64") == ["fd00:88::11"]
    assert in_network(addresses, "192.168.0.0/16") == []


def test_a_malformed_cidr_names_swarm_advertise_cidr() -> None:
    with pytest.raises(AnsibleFilterError, match="swarm_advertise_cidr: '172.28.88.0/40'"):
        in_network(["172.28.88.11"], "172.28.88.0/40")


def test_overlapping_networks_are_named_in_pairs() -> None:
    assert overlapping(["10.200.0.0/24", "10.200.0.128/25", "10.201.0.0/24"]) == ["10.200.0.0/24 and 10.200.0.128/25"]
    assert overlapping(["10.200.0.0/24", "10.200.0.0/24"]) == ["10.200.0.0/24 and 10.200.0.0/24"]
    assert overlapping(["10.0.0.0/8", "fd00::/8"]) == []


def test_networks_against_another_list_and_addresses() -> None:
    assert overlapping(["10.210.5.0/24", "10.1.0.0/24"], ["10.210.0.0/16"]) == ["10.210.5.0/24 and 10.210.0.0/16"]
    assert overlapping(["172.28.88.0/24"], ["172.28.88.11", "172.28.90.11"]) == ["172.28.88.0/24 and 172.28.88.11"]
    with pytest.raises(AnsibleFilterError, match="swarm_default_addr_pool: 'pool'"):
        overlapping(["10.0.0.0/24"], ["pool"], "swarm_default_addr_pool")


def test_duplicates_are_listed_once_in_order() -> None:
    assert duplicates(["a", "b", "a", "c", "b", "a"]) == ["a", "b"]
    assert duplicates([]) == [] and duplicates(None) == []


# A host's network facts as the setup module's network subset gives them (the fields the filter reads).
FACTS = {
    "all_ipv4_addresses": ["172.28.88.11", "10.0.2.15"],
    "all_ipv6_addresses": ["fd00:88::11"],
    "default_ipv4": {"address": "10.0.2.15", "interface": "eth1"},
    "eth0": {"ipv4": {"address": "172.28.88.11"}},
    "br_lab": {"ipv4": {"address": "10.0.2.15"}},
    "wg0": {"ipv6": [{"address": "fd00:88::11"}]},
}
HOST_ADDRESSES = ["172.28.88.11", "10.0.2.15", "fd00:88::11"]


def test_the_advertise_address_comes_from_the_first_way_given() -> None:
    def resolved(*args):
        found = advertise_address(FACTS, *args)
        assert found["host_addresses"] == HOST_ADDRESSES
        return found["address"], found["source"]

    assert resolved("192.0.2.9", "eth0", "172.28.88.0/24") == ("192.0.2.9", "swarm_advertise_addr 192.0.2.9")
    assert resolved(None, "eth0", "10.0.0.0/8") == ("172.28.88.11", "swarm_advertise_interface eth0")
    # Ansible's facts name br-lab br_lab.
    assert resolved(None, "br-lab") == ("10.0.2.15", "swarm_advertise_interface br-lab")
    assert resolved(None, None, "fd00:88::/64") == ("fd00:88::11", "swarm_advertise_cidr fd00:88::/64")
    assert resolved() == ("10.0.2.15", "the default route's address")


def test_a_way_that_gives_no_address_gives_an_empty_one() -> None:
    # No such interface, an interface without IPv4, no address inside the CIDR, no default route.
    assert advertise_address(FACTS, None, "eth9")["address"] == ""
    assert advertise_address(FACTS, None, "wg0")["address"] == ""
    assert advertise_address(FACTS, None, None, "192.168.0.0/16")["address"] == ""
    assert advertise_address({}, None, None, None) == {"address": "", "source": "the default route's address",
                                                        "host_addresses": []}
    with pytest.raises(AnsibleFilterError, match="swarm_advertise_cidr: '10.0.0.0/33'"):
        advertise_address(FACTS, None, None, "10.0.0.0/33")


def test_values_that_several_hosts_hold_name_the_hosts() -> None:
    by_host = {"m1": "10.0.0.1", "m3": "10.0.0.2", "w1": "10.0.0.2", "m2": "10.0.0.1", "w2": "10.0.0.3"}
    assert shared_values(by_host) == ["10.0.0.1 (m1, m2)", "10.0.0.2 (m3, w1)"]
    assert shared_values({"m1": "10.0.0.1"}) == [] and shared_values(None) == []


def test_each_host_gets_the_address_preflight_resolved_else_the_inventorys() -> None:
    hostvars = {
        "m1": {"preflight_advertise_addr": "172.28.88.11", "swarm_advertise_addr": "x", "ansible_host": "y"},
        "m2": {"swarm_advertise_addr": "172.28.88.12", "ansible_host": "y"},
        "w1": {"ansible_host": "172.28.88.21"},
        "storage1": {},
        # swarm_advertise_addr made of the facts of a host this run did not reach: undefined once templated.
        "w2": {"swarm_advertise_addr": Undefined(name="default_ipv4"), "ansible_host": "172.28.88.22"},
    }
    assert host_addresses(["w1", "m1", "storage1", "m2", "w2"], hostvars) == {
        "w1": "172.28.88.21", "m1": "172.28.88.11", "storage1": "storage1", "m2": "172.28.88.12", "w2": "172.28.88.22"}
    assert host_addresses([], hostvars) == {}
