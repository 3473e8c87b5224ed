#!/usr/bin/python
# Copyright: swarmforge contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_secret
short_description: Swarm secrets, versioned by content, with the services that use them moved to the new version
description:
  - Keeps one named secret as C(<name>_v<N>) objects. A new content (or new labels) makes a new version; the services
    that used an older version are updated to the new one, and versions beyond I(keep) that no service uses are
    removed.
  - The content is secret, so it is never returned, logged or shown in a diff.
  - Runs on a manager.
author: swarmforge contributors (@swarmforge)
extends_documentation_fragment: [swarmforge.swarm.swarmforge_docker, swarmforge.swarm.swarmforge_versioned]
seealso:
  - module: swarmforge.swarm.swarm_config
  - module: swarmforge.swarm.swarm_stack
"""

EXAMPLES = r"""
- name: The database password, from vault; services using an older version move to this one
  swarm_secret:
    name: mysql_root_password
    data: "{{ vault_mysql_root_password }}"
  no_log: true
  run_once: true
  delegate_to: "{{ groups['swarm_managers'][0] }}"
"""

RETURN = r"""
name:
  description: The name of the version in use after the change (e.g. C(mysql_root_password_v2)).
  returned: when state is present
  type: str
id:
  description: Its ID (null in check mode for a version not created yet).
  returned: when state is present
  type: str
version:
  description: Its version number (null when not versioned).
  returned: when state is present
  type: int
sha256:
  description: SHA-256 of the content.
  returned: when state is present
  type: str
services_updated:
  description: Services moved to this version.
  returned: always
  type: list
  elements: str
actions:
  description: What was done (or would be, in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_versioned import VERSIONED_ARGUMENT_SPEC, run

ARGUMENT_SPEC = VERSIONED_ARGUMENT_SPEC


def main() -> None:
    run("secret")


if __name__ == "__main__":
    main()
