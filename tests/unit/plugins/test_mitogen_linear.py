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
