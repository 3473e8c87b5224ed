"""The strategy: the collection module_utils Mitogen needs listed before an async job detaches; CPU placement."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
from ansible_collections.swarmforge.swarm.plugins.strategy import mitogen_linear as strategy_module
from ansible_collections.swarmforge.swarm.plugins.strategy.mitogen_linear import collection_module_utils

REPO = Path(__file__).resolve().parents[3]
UTILS = "ansible_collections.swarmforge.swarm.plugins.module_utils"


def setup_module() -> None:
    # As ansible-playbook does at start: collections resolve through Ansible's loader (here: the repository's link).
    _AnsibleCollectionFinder(paths=[str(REPO / "collections")])._install()


def test_a_module_lists_its_module_utils_and_theirs() -> None:
    listed = collection_module_utils(str(REPO / "plugins" / "modules" / "swarm_config.py"))
    assert [name for name, _, _ in listed] == [f"{UTILS}.swarmforge_certificate", f"{UTILS}.swarmforge_docker",
                                               f"{UTILS}.swarmforge_versioned"]  # and the ones those import
    for name, path, is_package in listed:
        assert Path(path).resolve() == (REPO / "plugins" / "module_utils" / f"{name.rsplit('.', 1)[1]}.py").resolve()
        assert not is_package


def test_a_module_without_collection_imports_lists_nothing() -> None:
    assert collection_module_utils(str(REPO / "plugins" / "modules" / "node_state.py")) == []


def planner_for(module: str, wrap_async: bool):
    """Mitogen's planner for a module, its scan already done (what Mitogen's own scan lists: no collection imports)."""
    from ansible_mitogen.planner import NewStylePlanner  # noqa: PLC0415 - patched when the strategy is imported

    class Invocation:
        module_path = str(REPO / "plugins" / "modules" / f"{module}.py")
        module_name = f"swarmforge.swarm.{module}"
        task_vars: dict = {}

    Invocation.wrap_async = wrap_async
    planner = NewStylePlanner.__new__(NewStylePlanner)
    planner._inv = Invocation()
    planner._module_map = {"builtin": ["ansible.module_utils.basic"], "custom": []}
    return planner


def test_an_async_job_gets_the_collection_module_utils_listed_once() -> None:
    planner = planner_for("swarm_config", wrap_async=True)
    listed = planner.get_module_map()
    assert [name for name, _, _ in listed["custom"]] == [
        f"{UTILS}.swarmforge_certificate", f"{UTILS}.swarmforge_docker", f"{UTILS}.swarmforge_versioned"]
    assert listed["builtin"] == ["ansible.module_utils.basic"]
    assert planner.get_module_map() == listed
    assert planner.should_fork(), "an async job runs in a child of its own, as Mitogen runs every async job"


def test_a_task_run_in_place_gets_nothing_added_and_is_not_forked() -> None:
    planner = planner_for("swarm_config", wrap_async=False)
    assert planner.get_module_map() == {"builtin": ["ansible.module_utils.basic"], "custom": []}
    assert not planner.should_fork(), "it runs in the host's persistent interpreter, as a module without them does"


def test_commands_run_on_every_cpu_the_controller_has(tmp_path: Path) -> None:
    """Mitogen pins its processes: below four CPUs its top-level process, workers and every child on one CPU, the
    multiplexer on the other. The strategy leaves placement to the kernel there, so what a task starts may use every
    CPU the controller may use."""
    pytest.importorskip("ansible_mitogen", reason="without mitogen the strategy is Ansible's linear one: nothing pins")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 4:
        pytest.skip(f"{len(cpus)} CPUs: Mitogen keeps its own placement on four or more")
    if len(cpus) < 2:
        pytest.skip("one CPU: nothing to pin to another")
    playbook = tmp_path / "cpus.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.command: grep Cpus_allowed_list /proc/self/status\n      register: cpus\n"
        "    - ansible.builtin.debug: {msg: 'CPUS={{ cpus.stdout.split()[-1] }}'}\n"
    )
    # The collections tree the strategy was imported from here (this checkout's link to itself, or the installed tree
    # ansible-test runs in): <tree>/ansible_collections/swarmforge/swarm/plugins/strategy/mitogen_linear.py.
    collections = Path(strategy_module.__file__).parents[5]
    # ansible-playbook's entry point in this Python: ansible-test provides ansible-core on PYTHONPATH, with no scripts.
    command = [sys.executable, "-c", "import sys; from ansible.cli.playbook import main; sys.argv[0] = 'ansible-playbook'; main()",
               "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)]
    env = {**os.environ, "ANSIBLE_STRATEGY": "swarmforge.swarm.mitogen_linear", "ANSIBLE_COLLECTIONS_PATH": str(collections)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    seen = re.findall(r"CPUS=(\S+?)\"", result.stdout)
    expected = f"{cpus[0]}-{cpus[-1]}" if cpus == list(range(cpus[0], cpus[-1] + 1)) else ",".join(map(str, cpus))
    assert seen == [expected], result.stdout
