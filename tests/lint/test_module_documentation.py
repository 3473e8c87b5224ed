"""ansible-doc renders every module from the repository (read as a document, so a static check: ansible-test units runs
tests/unit in an environment without ansible-doc), and the documented options are exactly the accepted ones."""

from __future__ import annotations

import importlib
import json
import sys

import pytest
from helpers import REPO, VENV_BIN, run

sys.path.insert(0, str(REPO / "collections"))  # the repository as the collection swarmforge.swarm (its link)
COMMON_ARGUMENT_SPEC = importlib.import_module(
    "ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_docker").COMMON_ARGUMENT_SPEC
MODULES = sorted(path.stem for path in (REPO / "plugins" / "modules").glob("*.py"))


@pytest.fixture(scope="module")
def rendered() -> dict:
    result = run([str(VENV_BIN / "ansible-doc"), "--json", *(f"swarmforge.swarm.{name}" for name in MODULES)], timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", MODULES)
def test_documented_options_are_the_accepted_options(rendered: dict, name: str) -> None:
    doc = rendered[f"swarmforge.swarm.{name}"]["doc"]
    module = importlib.import_module(f"ansible_collections.swarmforge.swarm.plugins.modules.{name}")
    spec = module.ARGUMENT_SPEC
    # Modules that speak to the engine take the shared connection options; node_state reads the host only.
    common = COMMON_ARGUMENT_SPEC if "swarmforge_docker" in (module.DOCUMENTATION or "") else {}
    assert set(doc["options"]) == set(spec) | set(common)
    for option, rules in {**spec, **common}.items():
        documented = doc["options"][option]
        assert documented.get("type", "str") == rules.get("type", "str"), option
        assert documented.get("default") == rules.get("default"), option
        assert sorted(documented.get("choices") or []) == sorted(rules.get("choices") or []), option


@pytest.mark.parametrize("name", MODULES)
def test_examples_return_and_honest_attributes(rendered: dict, name: str) -> None:
    entry = rendered[f"swarmforge.swarm.{name}"]
    assert entry["examples"].strip() and entry["return"]
    assert set(entry["doc"]["attributes"]) >= {"check_mode", "diff_mode", "idempotent"}


@pytest.mark.parametrize("name", MODULES)
def test_secret_options_are_no_log(name: str) -> None:
    spec = sys.modules[f"ansible_collections.swarmforge.swarm.plugins.modules.{name}"].ARGUMENT_SPEC
    secret_words = ("token", "password", "unlock_key")
    for option, rules in spec.items():
        if rules.get("type", "str") == "str" and (option == "data" or any(word in option for word in secret_words)):
            assert rules.get("no_log") is True, f"{name}.{option} must be no_log"
