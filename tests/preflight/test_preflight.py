"""The preflight play refuses each bad inventory with a message that names the fix, and passes a good one."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess

import pytest
import yaml
from helpers import REPO, playbook, recap

INVENTORIES = REPO / "tests" / "preflight" / "inventories"


def preflight(inventory: str, *args: str):
    # These fixtures reuse host names, so facts must not outlive one run. One local host: Ansible's own linear
    # strategy, since Mitogen's start-up costs more than it saves there (measured: 3.1 s against 4.1 s a run).
    return playbook("playbooks/preflight.yml", INVENTORIES / inventory, *args, timeout=300,
                    ANSIBLE_CACHE_PLUGIN="memory", ANSIBLE_STRATEGY="linear")


def failure_text(output: str) -> str:
    """The assert messages in the output, whitespace folded so wrapped YAML compares as one line."""
    return " ".join(output.split())


@pytest.mark.parametrize(("inventory", "extra", "message"), [
    ("no_managers.yml", [],
     "No managers: the inventory has no host in the group 'swarm_managers'. Put at least one host "
     "(three for a fault-tolerant cluster) in 'swarm_managers'."),
    ("even_managers.yml", [],
     "2 managers is an even number: it tolerates no more failures than 1 would (Raft needs a majority). "
     "Use an odd number of hosts in 'swarm_managers', or set swarm_allow_even_managers=true."),
    ("both_groups.yml", [],
     "Hosts in both 'swarm_managers' and 'swarm_workers': node1. Keep each host in one of the two groups "
     "(a manager also runs tasks unless drained)."),
    ("foreign_address.yml", [],
     "swarm_advertise_addr 198.51.100.77 does not give an address of node1 (its addresses: "),
    ("live_restore.yml", [],
     "live-restore is incompatible with swarm mode (dockerd refuses to start a swarm node with it). "
     "Remove live-restore from docker_engine_daemon_options for node1."),
    ("neither_group.yml", [],
     "Hosts in 'swarm' but in neither 'swarm_managers' nor 'swarm_workers': node2. Put each in one of the two "
     "groups"),
    ("same_address.yml", [],
     "The same advertise address for several hosts: "),
    ("overlay_overlap.yml", [],
     "Overlay subnets in swarm_networks_overlays overlap: 10.200.0.0/24 and 10.200.0.128/25. Give each overlay "
     "network a subnet of its own."),
    ("overlay_overlap.yml", [],
     "Overlay subnets overlap swarm_default_addr_pool, from which the swarm hands out subnets to other networks: "
     "10.210.5.0/24 and 10.210.0.0/16."),
    ("good.yml", ["-e", "swarm_stacks_manager=node9"],
     "swarm_stacks_manager=node9 is not a host of 'swarm_managers'. Name one of them: node1."),
    ("good.yml", ["-e", '{"swarm_networks_manager": ["node1"]}'],
     "swarm_networks_manager=['node1'] is not a host of 'swarm_managers'. Name one of them: node1."),
])
def test_bad_inventory_is_refused_with_the_fix(inventory: str, extra: list[str], message: str) -> None:
    result = preflight(inventory, *extra)
    assert result.returncode != 0, result.stdout
    assert message in failure_text(result.stdout), result.stdout


def test_two_hosts_with_one_address_are_both_named() -> None:
    text = failure_text(preflight("same_address.yml").stdout)
    assert re.search(r"The same advertise address for several hosts: [0-9.]+ \(node1, node2\)\. Each node needs an "
                     r"address of its own", text), text


def this_machines_network() -> str:
    """The network (CIDR) of this machine's default-route address, as the local-connection fixtures resolve it."""
    route = json.loads(subprocess.run(["ip", "-j", "-4", "route", "show", "default"], capture_output=True,
                                      text=True, check=True).stdout)
    device = route[0]["dev"]
    address = json.loads(subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", device], capture_output=True,
                                        text=True, check=True).stdout)[0]["addr_info"][0]
    return str(ipaddress.ip_network(f"{address['local']}/{address['prefixlen']}", strict=False))


def test_an_overlay_over_the_hosts_own_network_is_refused() -> None:
    network = this_machines_network()
    result = preflight("good.yml", "-e", json.dumps({"swarm_networks_overlays": [{"name": "x", "subnet": network}]}))
    assert result.returncode != 0, result.stdout
    assert (f"An overlay subnet holds a node's own address: {network} and " in failure_text(result.stdout)
            and "Choose overlay subnets (swarm_networks_overlays) outside the networks the hosts are on."
            in failure_text(result.stdout)), result.stdout


def test_a_false_written_as_a_string_is_false() -> None:
    result = preflight("good.yml", "-e", json.dumps({"docker_engine_daemon_options": {"live-restore": "false"}}))
    assert result.returncode == 0, result.stdout


def test_more_than_seven_managers_pass_with_a_warning(tmp_path) -> None:
    many = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                             "swarm_advertise_addr": "{{ ansible_facts.default_ipv4.address }}"},
                    "children": {"swarm": {"children": {"swarm_managers": {
                        "hosts": {f"node{n}": None for n in range(1, 10)}}}}}}}
    inventory = tmp_path / "nine_managers.yml"
    inventory.write_text(yaml.safe_dump(many), encoding="utf-8")
    # The rules across hosts read the whole inventory; one host is enough for the rest.
    result = playbook("playbooks/preflight.yml", inventory, "--limit", "node1", timeout=300,
                      ANSIBLE_CACHE_PLUGIN="memory", ANSIBLE_STRATEGY="linear")
    assert result.returncode == 0, result.stdout
    assert "WARNING: 9 managers. Raft's writes slow down as managers grow" in failure_text(result.stdout), result.stdout


def test_foreign_address_message_names_the_variables_to_set() -> None:
    text = failure_text(preflight("foreign_address.yml").stdout)
    assert "Set swarm_advertise_addr for node1 to one of its addresses, or swarm_advertise_interface / " \
           "swarm_advertise_cidr to pick one." in text
    listed = re.search(r"its addresses: ([^)]*)\)", text).group(1).split(", ")
    assert listed and "198.51.100.77" not in listed


def test_even_managers_pass_when_explicitly_allowed() -> None:
    # Both fixture hosts are this machine (one address): the run goes to one, the rules across hosts read both.
    result = preflight("even_managers.yml", "-e", "swarm_allow_even_managers=true", "--limit", "node1")
    assert result.returncode == 0, result.stdout


def test_good_inventory_passes_and_resolves_the_address() -> None:
    result = preflight("good.yml")
    assert result.returncode == 0, result.stdout
    assert recap(result.stdout)["node1"]["failed"] == 0


def test_a_host_that_does_not_answer_stops_the_run_unless_allowed() -> None:
    stopped = preflight("unreachable.yml")
    assert stopped.returncode != 0
    assert ("node2 did not answer over SSH: nothing was changed. Bring them back, or leave them out with "
            "--limit '!node2'") in failure_text(stopped.stdout), stopped.stdout
    allowed = preflight("unreachable.yml", "-e", "preflight_allow_unreachable=true")
    assert allowed.returncode == 0, allowed.stdout
    assert recap(allowed.stdout)["node1"]["failed"] == 0


def site_roles() -> list[str]:
    """The roles site.yml runs, as it names them to preflight."""
    plays = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text(encoding="utf-8"))
    return plays[0]["vars"]["preflight_roles"]


@pytest.mark.parametrize(("inventory", "message"), [
    ("bad_type.yml", "node1: the inventory gives values the roles refuse: role swarm: argument 'swarm_join_timeout' "
     "is of type str and we were unable to convert to int"),
    ("network_typo.yml", "role swarm_networks: encrpyted is not a key of an entry of swarm_networks_overlays "
     "(did you mean encrypted?)"),
    ("volume_typo.yml", "role swarm_volumes: verison is not a key of an entry of swarm_volumes_list.nfs "
     "(did you mean version?)"),
])
def test_a_value_a_later_role_refuses_stops_the_run_in_preflight(inventory: str, message: str) -> None:
    result = preflight(inventory, "-e", json.dumps({"preflight_roles": site_roles()}))
    assert result.returncode != 0, result.stdout
    text = failure_text(result.stdout)
    assert message in text, result.stdout
    assert "Fix them in the inventory (group_vars or host_vars of node1, or -e)" in text and "Nothing was changed" in text
    assert recap(result.stdout)["node1"]["changed"] == 0


def test_a_misspelt_variable_is_named_with_the_one_it_probably_meant() -> None:
    result = preflight("misspelt.yml", "-e", json.dumps({"preflight_roles": site_roles()}))
    assert result.returncode == 0, result.stdout
    assert "node1: host_prep_chrony_enabld is not a variable of any role: did you mean host_prep_chrony_enabled?" \
        in failure_text(result.stdout + result.stderr)


@pytest.mark.parametrize(("inventory", "message"), [
    ("daemon_key_typo.yml", "docker_engine_daemon_options for node1: 'log-drivr' is not a daemon.json option (did you "
     "mean 'log-driver'? an option of a newer engine goes in docker_engine_daemon_extra_keys as well)"),
    ("daemon_bool_word.yml", "docker_engine_daemon_options for node1: 'debug' must be a boolean, not 'sometimes'"),
    ("daemon_list_as_text.yml", "docker_engine_daemon_options for node1: 'registry-mirrors' must be a list, not "
     "'http://mirror.example:5000'"),
    ("daemon_pools.yml", "docker_engine_daemon_options for node1: each 'default-address-pools' entry is {base: CIDR, "
     "size: prefix length}, not '10.210.0.0/16'"),
    ("daemon_tcp_api.yml", "docker_engine_daemon_options for node1: hosts ['tcp://0.0.0.0:2375'] would expose the "
     "Docker API on TCP without TLS verification: set tlsverify, tlscacert, tlscert and tlskey"),
    ("daemon_not_a_mapping.yml", "node1: the inventory gives values the roles refuse: role preflight: argument "
     "'docker_engine_daemon_options' is of type list and we were unable to convert to dict;"),
    ("overlay_bad_subnet.yml", "Not an IP address or a network in CIDR form: swarm_networks_overlays subnet: "
     "'10.300.0.0/24'. Write each as 10.0.0.5, 10.0.0.0/24 or fd00::/64."),
    ("firewall_bad_cidr.yml", "Not an IP address or a network in CIDR form for node1: host_prep_firewall_extra_cidrs: "
     "'10.0.0.0/33'."),
    ("advertise_cidr_elsewhere.yml", "swarm_advertise_cidr 198.51.100.0/24 does not give an address of node1"),
    ("labels_as_text.yml", "node1: the inventory gives values the roles refuse: role swarm: argument 'swarm_labels' "
     "is of type list and we were unable to convert to dict."),
    ("availability_typo.yml", "role swarm: value of swarm_availability must be one of: active, pause, drain, got: "
     "drianed."),
    ("stack_without_template.yml", "role swarm_stacks: state is present but all of the following are missing: "
     "template found in swarm_stacks_list."),
    ("secret_without_value.yml", "role swarm_stacks: one of the following is required: data, file found in "
     "swarm_stacks_list -> secrets."),
    ("nfs_export_typo.yml", "role nfs_server: client is not a key of an entry of nfs_server_exports (did you mean "
     "clients?)"),
    ("seed_image_typo.yml", "role registry: archiv is not a key of an entry of registry_seed_images (did you mean "
     "archive?)"),
])
def test_each_malformed_inventory_stops_in_preflight_naming_host_key_and_fix(inventory: str, message: str) -> None:
    result = preflight(inventory, "-e", json.dumps({"preflight_roles": site_roles()}))
    assert result.returncode != 0, result.stdout
    assert message in failure_text(result.stdout), result.stdout
    assert recap(result.stdout)["node1"]["changed"] == 0


def test_a_newer_engines_key_declared_as_extra_passes() -> None:
    result = preflight("daemon_key_typo.yml", "-e", json.dumps({"docker_engine_daemon_extra_keys": ["log-drivr"]}))
    assert result.returncode == 0, result.stdout


def test_the_inventorys_own_group_names_are_followed(tmp_path) -> None:
    """Managers and workers in groups named as the operator likes, with swarm_manager_group and swarm_worker_group
    saying so: preflight's rules read those groups, and the day-2 plays' groups (preflight_managers,
    preflight_workers) hold their hosts. Without the settings the rules say which group they looked for."""
    host = {"swarm_advertise_addr": "{{ ansible_facts.default_ipv4.address }}"}
    renamed = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                       "children": {"swarm": {"children": {"control": {"hosts": {"node1": host}},
                                                           "compute": {"hosts": {"node2": host}}}}}}}
    inventory = tmp_path / "renamed.yml"
    inventory.write_text(yaml.safe_dump(renamed), encoding="utf-8")
    probe = tmp_path / "groups.yml"
    probe.write_text(yaml.safe_dump([
        {"name": "Preflight", "ansible.builtin.import_playbook": str(REPO / "playbooks" / "preflight.yml")},
        {"name": "The day-2 groups", "hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "Print them", "ansible.builtin.debug": {
                "msg": "managers={{ groups['preflight_managers'] | default([]) | join(',') }} "
                       "workers={{ groups['preflight_workers'] | default([]) | join(',') }}"}}]}]), encoding="utf-8")
    # Both fixture hosts are this machine (one address): each run goes to one, the rules across hosts read both.
    settings = ["-e", "swarm_manager_group=control", "-e", "swarm_worker_group=compute"]
    for limit, expected in (("node1", "managers=node1 workers="), ("node2", "managers= workers=node2")):
        named = playbook(str(probe), inventory, *settings, "--limit", f"{limit}:localhost", timeout=300,
                         ANSIBLE_CACHE_PLUGIN="memory", ANSIBLE_STRATEGY="linear")
        assert named.returncode == 0, named.stdout[-4000:]
        assert expected in failure_text(named.stdout), named.stdout[-4000:]
    unnamed = playbook(str(probe), inventory, "--limit", "node1:localhost", timeout=300, ANSIBLE_CACHE_PLUGIN="memory",
                       ANSIBLE_STRATEGY="linear")
    assert unnamed.returncode != 0
    assert "No managers: the inventory has no host in the group 'swarm_managers'." in failure_text(unnamed.stdout)
