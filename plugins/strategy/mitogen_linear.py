# Copyright: swarmforge contributors
# Apache License 2.0
"""The linear strategy, run through Mitogen when the `mitogen` package is installed (requirements.txt pins it).

Mitogen keeps one Python interpreter per host for the whole run, reached over the OpenSSH connection, and caches the
module code there, instead of copying and starting a module for every task: each task costs a fraction of a second
across the cluster in place of about one. Without the package, or with ANSIBLE_STRATEGY=linear, playbooks run with
Ansible's own linear strategy, unchanged in what they do.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: mitogen_linear
short_description: Ansible's linear strategy, through Mitogen when it is installed
description:
  - Runs tasks in order on every host, as the linear strategy does, with Mitogen's persistent interpreters when the
    C(mitogen) Python package is importable on the controller; otherwise exactly the linear strategy.
  - Hosts reached with the C(ssh), C(local) or C(docker) connections use Mitogen; other connections run as usual.
author: swarmforge contributors (@swarmforge)
"""

import ast
import importlib.util
import os

from ansible.utils.display import Display


def collection_module_utils(module_path: str) -> list[tuple[str, str, bool]]:
    """The module_utils of collections (ansible_collections.<ns>.<name>.plugins.module_utils...) that a module imports,
    directly or through one another, as (name, file, is_package), found with the controller's collection loader."""
    found: dict[str, tuple[str, str, bool]] = {}
    queue = [module_path]
    while queue:
        with open(queue.pop(), "rb") as source:
            tree = ast.parse(source.read())
        names = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name in found or not name.startswith("ansible_collections.") or ".plugins.module_utils." not in name:
                continue
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):  # an attribute imported from a module, not a module
                spec = None
            if spec is None or not spec.origin or not os.path.isfile(spec.origin):
                continue
            found[name] = (name, spec.origin, spec.submodule_search_locations is not None)
            queue.append(spec.origin)
    return sorted(found.values())


try:
    import ansible_mitogen.loaders
    import ansible_mitogen.module_finder
    import ansible_mitogen.strategy
except ImportError as error:  # mitogen is optional: the plain strategy does the same work, more slowly
    from ansible.plugins.strategy.linear import StrategyModule as _Linear

    Display().vvv(f"mitogen_linear: Mitogen is not importable ({error}); running the linear strategy")

    class StrategyModule(_Linear):
        pass

else:
    _Linear = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)

    # Mitogen lists a module's dependencies for the node from its `ansible.module_utils` imports only. A module of a
    # collection imports its module_utils as ansible_collections.*: run normally, the node fetches them from the
    # controller when the module imports them; run as an async job, the job has detached from the controller by then
    # and waits for them forever (the job reaches its time limit with no result). Listed here, they are fetched and
    # imported before the job detaches, as module_utils always are.
    _mitogen_scan = ansible_mitogen.module_finder.scan

    def _scan(module_name, module_path, search_path):
        listed = list(_mitogen_scan(module_name, module_path, search_path))
        known = {entry[0] for entry in listed}
        return sorted(listed + [entry for entry in collection_module_utils(module_path) if entry[0] not in known])

    ansible_mitogen.module_finder.scan = _scan

    class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _Linear):
        pass
