"""The controller half of role_arguments: entries, the roles' real specs, and messages an operator can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleActionFail
from ansible_collections.swarmforge.swarm.plugins.action.role_arguments import known_names, load_spec, misspelt, parse_entry, read_specs, readable

ROLES = Path(__file__).resolve().parents[4] / "roles"


def test_entries_name_a_role_and_an_entry_point() -> None:
    assert parse_entry("swarm") == ("swarm", "main")
    assert parse_entry("docker_engine:packages") == ("docker_engine", "packages")
    with pytest.raises(AnsibleActionFail, match="neither ROLE nor ROLE:ENTRY_POINT"):
        parse_entry("a:b:c")


def test_specs_are_read_from_the_roles_and_an_unknown_entry_point_is_named() -> None:
    specs = read_specs(str(ROLES))
    assert "swarm_networks_overlays" in load_spec(specs, str(ROLES), "swarm_networks", "main")
    assert load_spec(specs, str(ROLES), "docker_engine", "packages")
    with pytest.raises(AnsibleActionFail, match="role swarm has no entry point 'nope'"):
        load_spec(specs, str(ROLES), "swarm", "nope")
    with pytest.raises(AnsibleActionFail, match="check the role's name in preflight_roles"):
        load_spec(specs, str(ROLES), "no_such_role", "main")


def test_an_unknown_key_in_an_entry_is_named_with_the_key_it_probably_meant() -> None:
    message = "swarm_networks_overlays.encrpyted. Supported parameters include: encrypted, name, subnet."
    assert readable(message) == ("encrpyted is not a key of an entry of swarm_networks_overlays (did you mean "
                                 "encrypted?); its keys are encrypted, name, subnet")
    assert readable("argument 'x' is of type str.") == "argument 'x' is of type str"


def test_only_close_misspellings_of_a_role_variable_are_reported() -> None:
    known = known_names(read_specs(str(ROLES)))
    names = ["host_prep_chrony_enabld", "host_prep_chrony_enabled", "swarm_mine_entirely", "ansible_host"]
    assert misspelt(names, known, ("host_prep_", "swarm_")) == [
        "host_prep_chrony_enabld is not a variable of any role: did you mean host_prep_chrony_enabled?"]
