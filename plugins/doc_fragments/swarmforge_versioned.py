# Copyright: swarmforge contributors
# Apache License 2.0


from __future__ import annotations


class ModuleDocFragment:
    """Options of the versioned objects: swarm_secret and swarm_config (module_utils/swarmforge_versioned.py)."""

    DOCUMENTATION = r"""
options:
  name:
    description:
      - Base name. With I(versioned), each content is stored as C(<name>_v<N>) and the newest is the one in use.
    type: str
    required: true
  state:
    description: C(absent) removes every version; it fails while a service uses one.
    type: str
    choices: [present, absent]
    default: present
  data:
    description: The content. Mutually exclusive with I(src).
    type: str
  data_is_b64:
    description: I(data) is base64 (binary content).
    type: bool
    default: false
  src:
    description: A file on the managed node holding the content.
    type: path
  labels:
    description: Further labels; a change of them makes a new version too.
    type: dict
  versioned:
    description:
      - Store each content as a new version and move services to it. Without it the object keeps its plain name and
        a content change is refused while a service uses it (swarm objects cannot change in place).
    type: bool
    default: true
  keep:
    description: How many versions to keep, the newest included. Older versions are removed once no service uses them.
    type: int
    default: 3
  rotate_services:
    description: Move the services that use an older version to the newest (same target file, owner and mode).
    type: bool
    default: true
  wait:
    description: Wait until the moved services converged, and fail if one rolled back.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the moved services.
    type: int
    default: 300
notes:
  - The content is compared through the SHA-256 label C(io.swarmforge.content-sha256), since a secret cannot be read
    back. Objects made outside swarmforge have no such label and count as different.
attributes:
  check_mode:
    support: full
    description: Compares and reports what would change, changing nothing.
  diff_mode:
    support: full
    description: Name and content hash before and after, never the content.
  idempotent:
    support: full
    description: Run again with the same arguments, it changes nothing.
"""
