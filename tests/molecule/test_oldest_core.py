"""The oldest ansible-core the collection claims (meta/runtime.yml: 2.17), proven on a cluster: site.yml run with
ansible-core 2.17 (.venv-core217, requirements-core217.txt) converges a fresh lab of the tutorials' cluster - one
manager, also serving NFS and the registry, on Debian 13, and two workers on Debian 12 (cluster-1m2w's topology, which
it replaces in the clusters stage, with the releases the other way round: every role on the current Debian and Docker
26.1, workers of the older release and Docker 20.10 in its swarm) - a rerun changes nothing, and cluster-1m2w's checks
(molecule/resources/cluster-tests: membership, each node's engine for its release, every stack's tasks and answers)
pass on it. The inventory names its groups as an operator might (not swarm_managers and swarm_workers) and moves the
overlay traffic off Docker's default port (4789 is taken where VMware NSX runs, for one): one setting each, which
every role and playbook follows - the swarm was made with that port and each node's firewall opens it, not the
default, to the members only. Molecule itself does not run with ansible-core 2.17 (molecule and ansible-compat 26
require a release other than 2.17), so the lab tool and pytest run the steps a scenario would."""

from __future__ import annotations

import os
import sys

import pytest
import yaml
from cluster import Cluster
from helpers import REPO, core217_bin, lab_cli, lab_env, lab_inventory, lab_state, recap, run

from lab.spec import LabSpec

LAB = "core217"
SUBNET = "172.28.101.0/24"
# As molecule/cluster-1m2w/molecule.yml has it, the releases the other way round (that scenario, on demand, keeps its
# manager on Debian 12 and its workers on 13).
TOPOLOGY = ("--managers", "1", "--workers", "2", "--storage", "0", "--storage-on-manager", "--debian", "12",
            "--manager-debian", "13")
# The operator's group names and data path port (inventory settings read by every role and playbook).
GROUPS = {"swarm_managers": "control_plane", "swarm_workers": "compute"}
DATA_PATH_PORT = 4790


def operator_names() -> None:
    """The lab's inventory with the swarm's groups renamed, and the settings that say so."""
    hosts = lab_inventory(LAB) / "hosts.yml"
    inventory = yaml.safe_load(hosts.read_text(encoding="utf-8"))
    swarm = inventory["all"]["children"]["swarm"]
    swarm["children"] = {GROUPS.get(name, name): group for name, group in swarm["children"].items()}
    inventory["all"]["vars"].update(swarm_manager_group=GROUPS["swarm_managers"],
                                    swarm_worker_group=GROUPS["swarm_workers"], swarm_data_path_port=DATA_PATH_PORT)
    hosts.write_text("---\n" + yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def core217():
    """ansible-core 2.17's bin folder, with a fresh lab of one manager and two workers up (removed at the end)."""
    binaries = core217_bin()
    lab_cli(LAB, "down")
    up = lab_cli(LAB, "up", "--subnet", SUBNET, *TOPOLOGY)
    assert up.returncode == 0, up.stdout + up.stderr
    operator_names()
    yield binaries
    if os.environ.get("SWARMFORGE_KEEP_LAB") != "1":
        lab_cli(LAB, "down")


def site(binaries, *args: str):
    return run([str(binaries / "ansible-playbook"), "site.yml", "-i", str(lab_inventory(LAB)), *args], timeout=1800,
               PATH=f"{binaries}{os.pathsep}{os.environ.get('PATH', '')}", **lab_env(LAB))


def test_site_converges_with_ansible_core_2_17_reruns_unchanged_and_the_cluster_answers(core217) -> None:
    version = run([str(core217 / "ansible-playbook"), "--version"])
    assert version.stdout.startswith("ansible-playbook [core 2.17."), version.stdout
    first = site(core217)
    assert first.returncode == 0, first.stdout[-12000:] + first.stderr[-4000:]
    assert "does not support Ansible version" not in first.stdout + first.stderr, "requires_ansible must cover 2.17"
    again = site(core217)
    assert again.returncode == 0, again.stdout[-12000:] + again.stderr[-4000:]
    hosts = recap(again.stdout)
    assert hosts and all(counts["changed"] == 0 and counts["failed"] == 0 for counts in hosts.values()), hosts
    cluster = Cluster(name=LAB, spec=LabSpec(**lab_state(LAB)), inventory=lab_inventory(LAB), first_converge=first.stdout)
    port = cluster.host("manager1").check_output("docker info --format '{{.Swarm.Cluster.DataPathPort}}'")
    assert port == str(DATA_PATH_PORT), f"the swarm's data path port is {port}, not the inventory's {DATA_PATH_PORT}"
    for node in ("manager1", "worker1"):
        table = cluster.host(node).check_output("nft list table inet swarmforge")
        assert f"udp dport {DATA_PATH_PORT} ip saddr != @members4 drop" in table, (node, table)
        assert "4789" not in table, (node, table)  # Docker's default is not the swarm's port here
        assert ("tcp dport 2377 ip saddr != @members4 drop" in table) == (node == "manager1"), (node, table)
    checks = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--connection=ansible",
                  f"--ansible-inventory={lab_inventory(LAB)}", "--hosts=manager1",
                  str(REPO / "molecule" / "resources" / "cluster-tests")], timeout=900,
                 MOLECULE_PROJECT_DIRECTORY=str(REPO), SWARMFORGE_MOLECULE_LAB=LAB, **lab_env(LAB))
    assert checks.returncode == 0, checks.stdout[-8000:] + checks.stderr[-2000:]
    assert " passed" in checks.stdout, checks.stdout[-2000:]  # skips (a kernel without NFS) say why, as in molecule
