# Copyright: swarmforge contributors
# Apache License 2.0
"""Address filters for the roles, on Python's own ipaddress module: the firewall's member sets need the IPv4 and
IPv6 entries apart; preflight picks the host address inside a CIDR and refuses overlapping networks and addresses
given to two hosts. ansible.utils' filters did this before; they
import netaddr in every forked worker of every task that uses them (about half a second a task across six hosts),
and they dropped an entry they could not read without a word, so a typo in host_prep_firewall_extra_cidrs left a
network out of the firewall silently. These refuse it, naming the value."""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError, AnsibleUndefinedVariable
from jinja2 import Undefined


def _network(value, what):
    try:
        return ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError as error:
        raise AnsibleFilterError(
            f"{what}: {value!r} is neither an IP address nor a network in CIDR form ({error}); "
            "write it as 10.0.0.5, 10.0.0.0/24 or fd00::/64") from None


def ip_version(values, version, what="address list"):
    """The entries of values whose IP version is version, unchanged; an entry that is no address fails."""
    if int(version) not in (4, 6):
        raise AnsibleFilterError(f"ip_version: the version must be 4 or 6, not {version!r}")
    return [value for value in values or [] if _network(value, what).version == int(version)]


def in_network(addresses, cidr, what="swarm_advertise_cidr"):
    """The addresses inside cidr (a network in CIDR form), in order."""
    network = _network(cidr, what)
    return [address for address in addresses or []
            if _network(address, "address").version == network.version
            and _network(address, "address").subnet_of(network)]


def overlapping(networks, others=None, what="swarm_networks_overlays"):
    """Pairs "a and b" of networks that share addresses: within networks, or, given others, between the two lists.
    Entries may be addresses (a /32 or /128 network) or CIDRs; duplicates count as overlapping."""
    first = [(str(value), _network(value, what)) for value in networks or []]
    if others is None:
        pairs = [(a, b) for i, a in enumerate(first) for b in first[i + 1:]]
    else:
        second = [(str(value), _network(value, what)) for value in others]
        pairs = [(a, b) for a in first for b in second]
    return [f"{a[0]} and {b[0]}" for a, b in pairs if a[1].version == b[1].version and a[1].overlaps(b[1])]


def duplicates(values):
    """The values that occur more than once, each once, in first-seen order."""
    seen, repeated = set(), []
    for value in values or []:
        if value in seen and value not in repeated:
            repeated.append(value)
        seen.add(value)
    return repeated


def not_networks(values, what):
    """The entries of values that are neither an address nor a network, each as "what: 'value'"; a value that is not
    a list is itself such an entry."""
    if values in (None, ""):
        return []
    if not isinstance(values, (list, tuple)):
        return [f"{what}: {values!r} (a list is needed)"]
    wrong = []
    for value in values:
        try:
            ipaddress.ip_network(str(value).strip(), strict=False)
        except ValueError:
            wrong.append(f"{what}: {value!r}")
    return wrong


def advertise_address(facts, addr=None, interface=None, cidr=None):
    """The address a swarm member advertises, from its network facts (ansible_facts) and the first of these that is
    given (None: not given): swarm_advertise_addr as it is; the IPv4 address of swarm_advertise_interface; the host's
    first address inside swarm_advertise_cidr; else the default route's address. Returns {"address": ... ('' when the
    chosen way gives none), "source": the way, as a failure names it, "host_addresses": every IPv4 then IPv6 address
    the host has}, so that one task can resolve the address and another check it is the host's."""
    facts = facts or {}
    host_addresses = list(facts.get("all_ipv4_addresses") or []) + list(facts.get("all_ipv6_addresses") or [])
    if addr is not None:
        address, source = str(addr), f"swarm_advertise_addr {addr}"
    elif interface is not None:
        # Ansible names an interface's facts with its dashes as underscores (br-lab: ansible_facts.br_lab).
        found = facts.get(str(interface).replace("-", "_")) or {}
        address, source = (found.get("ipv4") or {}).get("address", ""), f"swarm_advertise_interface {interface}"
    elif cidr is not None:
        inside = in_network(host_addresses, cidr)
        address, source = (inside[0] if inside else ""), f"swarm_advertise_cidr {cidr}"
    else:
        address, source = (facts.get("default_ipv4") or {}).get("address", ""), "the default route's address"
    return {"address": address, "source": source, "host_addresses": host_addresses}


def shared_values(by_host):
    """The values of a mapping (host: value) that more than one host holds, each as "value (host, host)" with the hosts
    sorted, in the order the values first occur."""
    holders: dict = {}
    for host, value in (by_host or {}).items():
        holders.setdefault(value, []).append(str(host))
    return [f"{value} ({', '.join(sorted(hosts))})" for value, hosts in holders.items() if len(hosts) > 1]


def host_addresses(hosts, hostvars):
    """One address per host of hosts (host: address), for the hosts files and the members' firewall sets: the address
    preflight resolved on the host (preflight_advertise_addr), else, for hosts the run did not reach, its
    swarm_advertise_addr, else its ansible_host, else its inventory name."""
    found = {}
    for host in hosts or []:
        values = hostvars[host]
        for name in ("preflight_advertise_addr", "swarm_advertise_addr", "ansible_host"):
            try:
                value = values.get(name)
            except AnsibleUndefinedVariable:
                value = None
            # As Jinja's default() takes it, a value made of what this run does not know (the network facts of a host
            # it did not reach) is no value: templated, it comes back undefined.
            if value is not None and not isinstance(value, Undefined):
                found[host] = str(value)
                break
        else:
            found[host] = str(host)
    return found


class FilterModule:
    def filters(self):
        return {"ip_version": ip_version, "in_network": in_network, "overlapping": overlapping,
                "duplicates": duplicates, "not_networks": not_networks, "advertise_address": advertise_address,
                "shared_values": shared_values, "host_addresses": host_addresses}
