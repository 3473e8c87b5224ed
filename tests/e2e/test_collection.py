"""The collection as an operator installs it: built, installed, and used from a directory of their own (the e2e
converge and its rerun ran that way: conftest.py and test_site.py)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import REPO, install_collection

MODULES = sorted(path.stem for path in (REPO / "plugins" / "modules").glob("*.py"))


def test_every_module_documents_itself_from_the_installed_collection(cluster) -> None:
    installed = install_collection() / "ansible_collections" / "swarmforge" / "swarm"
    listed = cluster.outside.run("ansible-galaxy", "collection", "list", "swarmforge.swarm", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    paths = json.loads(listed.stdout)
    assert list(paths) == [str(installed.parent.parent)], "the operator's directory sees the installed copy only"
    assert paths[str(installed.parent.parent)]["swarmforge.swarm"]["version"] == "1.0.0"
    doc = cluster.outside.run("ansible-doc", "--json", *(f"swarmforge.swarm.{name}" for name in MODULES))
    assert doc.returncode == 0, doc.stderr
    rendered = json.loads(doc.stdout)
    for name in MODULES:
        source = Path(rendered[f"swarmforge.swarm.{name}"]["doc"]["filename"])
        assert source == installed / "plugins" / "modules" / f"{name}.py"


def test_the_artefact_ships_the_collection_and_nothing_of_the_lab(cluster) -> None:
    installed = install_collection() / "ansible_collections" / "swarmforge" / "swarm"
    manifest = json.loads((installed / "MANIFEST.json").read_text(encoding="utf-8"))
    assert manifest["collection_info"]["dependencies"] == {"ansible.posix": ">=1.5.0", "community.general": ">=8.0.0"}
    for shipped in ("playbooks/site.yml", "roles/swarm/tasks/main.yml", "stacks/web", "meta/runtime.yml",
                    "CHANGELOG.md", "LICENSE", "inventories/sample/hosts.yml"):
        assert (installed / shipped).exists(), shipped
    for kept in ("lab", "tests", "bench", "molecule", ".lab", ".venv", ".venv-core217", "requirements-core217.txt",
                 "collections/ansible_collections", "inventories/lab", "ansible.cfg"):
        assert not (installed / kept).exists(), kept
