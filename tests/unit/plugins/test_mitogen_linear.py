"""The strategy's list of a module's collection module_utils, which Mitogen needs before an async job detaches."""

from __future__ import annotations

from pathlib import Path

from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
from ansible_collections.swarmforge.swarm.plugins.strategy.mitogen_linear import collection_module_utils

REPO = Path(__file__).resolve().parents[3]
UTILS = "ansible_collections.swarmforge.swarm.plugins.module_utils"


def setup_module() -> None:
    # As ansible-playbook does at start: collections resolve through Ansible's loader (here: the repository's link).
    _AnsibleCollectionFinder(paths=[str(REPO / "collections")])._install()


def test_a_module_lists_its_module_utils_and_theirs() -> None:
    listed = collection_module_utils(str(REPO / "plugins" / "modules" / "swarm_config.py"))
    assert [name for name, _, _ in listed] == [f"{UTILS}.swarmforge_docker", f"{UTILS}.swarmforge_versioned"]
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
    assert [name for name, _, _ in listed["custom"]] == [f"{UTILS}.swarmforge_docker", f"{UTILS}.swarmforge_versioned"]
    assert listed["builtin"] == ["ansible.module_utils.basic"]
    assert planner.get_module_map() == listed
    assert planner.should_fork(), "an async job runs in a child of its own, as Mitogen runs every async job"


def test_a_task_run_in_place_gets_nothing_added_and_is_not_forked() -> None:
    planner = planner_for("swarm_config", wrap_async=False)
    assert planner.get_module_map() == {"builtin": ["ansible.module_utils.basic"], "custom": []}
    assert not planner.should_fork(), "it runs in the host's persistent interpreter, as a module without them does"
