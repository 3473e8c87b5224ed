#!/usr/bin/python
# Copyright: swarmforge contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: role_arguments
short_description: Validate, before anything changes, every role a playbook will run against a host's variables
description:
  - Reads each named role's C(meta/argument_specs.yml) (the entry point C(main), or the one named after a colon) and
    validates the host's values for every option it names, as the role's own validation task would (types, choices,
    list elements and the C(options) of dict entries, so a misspelt key in a list entry is refused).
  - One task per host for all roles, run on the controller (no connection to the host). The failure names the host,
    the role and entry point, the variable and what is wrong, and says where to fix it; nothing has changed by then.
  - Inventory variables that carry the prefix of a named role, are named by no role's spec and are close to one that
    is (a likely typo, e.g. C(swarm_lables)) are reported as warnings with the name they probably meant.
  - Playbooks call it first (the preflight role does, from C(preflight_roles)) and then run the roles with
    C(rolespec_validate=false), so each role's own validation task is not repeated.
  - This is an action plugin; the module file only documents it.
author: swarmforge contributors (@swarmforge)
options:
  roles:
    description: The roles to validate, as C(ROLE) or C(ROLE:ENTRY_POINT) (for a role run with C(tasks_from)).
    type: list
    elements: str
    required: true
  roles_path:
    description: The folder that holds the roles (each with C(meta/argument_specs.yml)).
    type: path
    required: true
attributes:
  check_mode:
    support: full
    description: It never changes anything; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing to show.
  idempotent:
    support: full
    description: It only reads.
notes:
  - Values are templated as the roles would see them at this point of the run; a variable that cannot be resolved yet
    is reported as a problem of the role that reads it.
"""

EXAMPLES = r"""
- name: Every role of this playbook, validated for this host
  role_arguments:
    roles: [host_prep, "docker_engine:packages", docker_engine, swarm]
    roles_path: "{{ role_path | dirname }}"
"""

RETURN = r"""
roles:
  description: The entries validated, in order, without repeats.
  returned: always
  type: list
  elements: str
  sample: [host_prep, docker_engine, swarm]
checked:
  description: How many variables of this host were validated, over all roles.
  returned: always
  type: int
  sample: 42
problems:
  description: One line per refused value, naming the role and the variable.
  returned: failed
  type: list
  elements: str
  sample: ["role swarm: value of swarm_labels must be of type dict"]
"""

from ansible.module_utils.basic import AnsibleModule

ARGUMENT_SPEC = {
    "roles": {"type": "list", "elements": "str", "required": True},
    "roles_path": {"type": "path", "required": True},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="role_arguments runs on the controller as an action plugin; this module only documents it "
                         "(check that action_plugins in ansible.cfg names plugins/action)")


if __name__ == "__main__":
    main()
