"""The address filters split member addresses and networks by IP version and pick addresses inside a CIDR, and refuse
an entry that is no address, naming the variable it came from."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.swarmforge.swarm.plugins.filter.addresses import duplicates, in_network, ip_version, overlapping

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
