"""The Molecule scenarios (molecule/<role>): each creates its own lab nodes, converges the role, converges again
(Molecule's idempotence step fails on any change), runs its side effects and its testinfra checks, and removes the
nodes.

The whole-cluster scenarios (molecule/cluster-*: site.yml on a topology) run when SWARMFORGE_CLUSTER_SCENARIOS=1: each
costs minutes, and `make test` has no room for them yet within its 45 minutes."""

from __future__ import annotations

import os
import re

import pytest

from helpers import REPO, VENV_BIN, run

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CLUSTERS = os.environ.get("SWARMFORGE_CLUSTER_SCENARIOS") == "1"
SCENARIOS = sorted(path.parent.name for path in (REPO / "molecule").glob("*/molecule.yml")
                   if CLUSTERS or not path.parent.name.startswith("cluster-"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario: str) -> None:
    result = run([str(VENV_BIN / "molecule"), "test", "-s", scenario], timeout=1800, NO_COLOR="1")
    output = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, output[-12000:]
    for step in ("converge", "idempotence", "verify"):
        assert re.search(rf"{step}\W+Executed: Successful", output), f"the {step} step did not report success"
