"""The Molecule scenarios (molecule/<scenario>): each creates its own lab nodes, converges, converges again (Molecule's
idempotence step fails on any change), runs its side effects and its testinfra checks, and removes the nodes.
`test_scenario` runs the role scenarios (host_prep, docker_engine): the molecule stage, beside the integration stage.
`test_cluster_scenario` runs the cluster topologies `make test` covers with Molecule, the tutorials' cluster
(cluster-1m2w) and three managers without workers (cluster-3m): the clusters stage, in the background beside e2e and
lifecycle, which mostly wait on their swarm. One manager alone (cluster-1m) is proven in every run by
test_oldest_core.py, with ansible-core 2.17; five managers (cluster-5m) run on demand, and the lifecycle reaches five
managers by promotion. SWARMFORGE_CLUSTER_SCENARIOS=all runs every cluster scenario, =none none."""

from __future__ import annotations

import os
import re

import pytest
from helpers import REPO, VENV_BIN, run

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# cluster-1m runs on demand: its topology is proven each `make test` with ansible-core 2.17 (test_oldest_core.py).
IN_CLUSTERS_STAGE = {"cluster-3m"}
CLUSTERS = os.environ.get("SWARMFORGE_CLUSTER_SCENARIOS", "suite")
NAMES = sorted(path.parent.name for path in (REPO / "molecule").glob("*/molecule.yml"))
CLUSTER_NAMES = [name for name in NAMES if name.startswith("cluster-")]


def chosen(names: set[str]) -> list[str]:
    if CLUSTERS == "none":
        return []
    return [name for name in CLUSTER_NAMES if name in names or CLUSTERS == "all"]


def molecule_test(scenario: str) -> None:
    result = run([str(VENV_BIN / "molecule"), "test", "-s", scenario], timeout=1800, NO_COLOR="1")
    output = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, output[-12000:]
    for step in ("converge", "idempotence", "verify"):
        assert re.search(rf"{step}\W+Executed: Successful", output), f"the {step} step did not report success"


@pytest.mark.parametrize("scenario", [name for name in NAMES if name not in CLUSTER_NAMES])
def test_scenario(scenario: str) -> None:
    molecule_test(scenario)


@pytest.mark.parametrize("scenario", chosen(IN_CLUSTERS_STAGE))
def test_cluster_scenario(scenario: str) -> None:
    molecule_test(scenario)
