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
    import ansible.collections.list
    import ansible_mitogen.affinity
    import ansible_mitogen.loaders
    import ansible_mitogen.planner
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
    # and waits for them forever (the job reaches its time limit with no result). For async jobs they are listed, so
    # they are fetched and imported before the job detaches, as module_utils always are. Only for those: a module with
    # listed module_utils of its own runs in a child forked for the task, about 0.15 s per host and task, where the
    # others run in the host's persistent interpreter (15 swarm_info tasks on 5 hosts, measured: 18.2 s listed for
    # every task, 11.1 s listed for async jobs only).
    _module_map = ansible_mitogen.planner.NewStylePlanner.get_module_map

    def _get_module_map(self):
        found = _module_map(self)
        if self._inv.wrap_async and not getattr(self, "_swarmforge_listed", False):
            known = {entry[0] for entry in found["custom"]}
            extra = [entry for entry in collection_module_utils(self._inv.module_path) if entry[0] not in known]
            self._module_map = found = dict(found, custom=sorted(found["custom"] + extra))
            self._swarmforge_listed = True
        return found

    ansible_mitogen.planner.NewStylePlanner.get_module_map = _get_module_map

    # Mitogen lists every installed collection (about 90 with the `ansible` package: 0.15 s) for each task of a
    # collection's module on each host, in the task's worker process, to add them to its own import path once per
    # run. Listed once per run here, before the workers start.
    _COLLECTION_DIRS: list[str] = []

    def _load_collections(invocation):
        invocation._extra_sys_paths.update(_COLLECTION_DIRS)

    ansible_mitogen.planner._load_collections = _load_collections

    # Mitogen pins its processes to CPUs: its connection multiplexer to CPU 0 and, on a machine with fewer than four,
    # the top-level process, every worker and every ssh child all to CPU 1 — one core for the whole run while the
    # other waits on the multiplexer. Left to the kernel's scheduler, a no-op rerun of site.yml on the 6-host lab took
    # 0.80x the time and preflight.yml 0.91x (farm-bench, paired, 2 cores, 2026-12-04). Machines with four or more
    # keep Mitogen's placement (a core each for the multiplexer and the top level), which was not measured here.
    if len(os.sched_getaffinity(0)) < 4:
        ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()

    class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _Linear):
        def run(self, *args, **kwargs):
            if not _COLLECTION_DIRS:
                _COLLECTION_DIRS.extend(path.decode() for path in ansible.collections.list.list_collection_dirs())
            return super().run(*args, **kwargs)
