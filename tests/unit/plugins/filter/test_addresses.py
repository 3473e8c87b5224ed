"""The address filters split member addresses and networks by IP version and pick addresses inside a CIDR, and refuse
an entry that is no address, naming the variable it came from."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from swarmforge_filters.addresses import in_network, ip_version

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
