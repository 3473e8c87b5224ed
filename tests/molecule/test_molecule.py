"""The Molecule scenarios (molecule/<scenario>): each creates its own lab nodes, converges, converges again (Molecule's
idempotence step fails on any change), runs its side effects and its testinfra checks, and removes the nodes.

Role scenarios (host_prep, docker_engine) run on every `make test`. Whole-cluster scenarios (molecule/cluster-*:
site.yml on a topology, every stack answering) cost minutes each: `make test` runs the tutorials' one (cluster-1m2w),
which runs beside the integration stage and so costs the suite little; SWARMFORGE_CLUSTER_SCENARIOS=all runs every
one (one manager alone, three managers and no workers, five managers), =none none of them."""

from __future__ import annotations

import os
import re

import pytest

from helpers import REPO, VENV_BIN, run

ANSI = re.compile(r"\x1b\[[0-9;]*m")
IN_SUITE = {"cluster-1m2w"}
CLUSTERS = os.environ.get("SWARMFORGE_CLUSTER_SCENARIOS", "suite")
NAMES = [path.parent.name for path in (REPO / "molecule").glob("*/molecule.yml")]
SCENARIOS = sorted(name for name in NAMES if not name.startswith("cluster-") or CLUSTERS == "all"
                   or (CLUSTERS == "suite" and name in IN_SUITE))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario: str) -> None:
    result = run([str(VENV_BIN / "molecule"), "test", "-s", scenario], timeout=1800, NO_COLOR="1")
    output = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, output[-12000:]
    for step in ("converge", "idempotence", "verify"):
        assert re.search(rf"{step}\W+Executed: Successful", output), f"the {step} step did not report success"
