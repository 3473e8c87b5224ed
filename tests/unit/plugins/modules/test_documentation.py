"""Every module's DOCUMENTATION, EXAMPLES and RETURN parse, and its documented options match its argument_spec."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

MODULES = sorted((Path(__file__).resolve().parents[4] / "plugins" / "modules").glob("*.py"))
SHARED_OPTIONS = {"docker_host", "timeout", "tls", "validate_certs", "ca_path", "client_cert", "client_key"}


def blocks(path: Path) -> dict[str, str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.targets[0].id: node.value.value for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN")}


def spec_options(path: Path) -> set[str]:
    """Keys of the dict literal passed to SwarmClient(...) in main()."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "SwarmClient" and node.args:
            return {key.value for key in node.args[0].keys}
    raise AssertionError(f"{path.name}: no SwarmClient(...) call")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_documentation_parses_and_matches_the_argument_spec(path: Path) -> None:
    docs = blocks(path)
    assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
    documentation = yaml.safe_load(docs["DOCUMENTATION"])
    yaml.safe_load(docs["EXAMPLES"])
    yaml.safe_load(docs["RETURN"])
    assert documentation["module"] == path.stem
    assert set(documentation["attributes"]) >= {"check_mode", "diff_mode", "idempotent"}
    assert documentation["extends_documentation_fragment"] == ["swarmforge_docker"]
    assert set(documentation.get("options") or {}) == spec_options(path) - SHARED_OPTIONS
