"""Every day-2 playbook under --check --diff on the converged cluster: the plan before the change.

The ones that keep the cluster as the inventory says (scale with no new host, stacks, upgrade to the engine that runs,
recover on a cluster that holds quorum, rotate with nothing asked) exit 0 with changed=0 on every host. The ones that
act by nature (rotate's join tokens, remove_node, reset) exit 0 and report what a run would do; tasks that wait for an
earlier change say so instead of failing. Either way the cluster is exactly as before: nodes, roles, availability,
join tokens, services.

Day-2 runs given a host or stack name the inventory lacks stop before changing anything, naming the ones it has.

The runs only read, so they go three at a time, each with its own fact cache (the lab's is one file per host)."""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import lab_env, lab_inventory, playbook, recap

# name: (arguments, hosts that may report a change: None = none may)
RUNS = {
    "scale": (["scale.yml"], None),
    "stacks": (["stacks.yml"], None),
    "upgrade": (["upgrade.yml"], None),
    "recover": (["recover.yml"], None),
    "rotate nothing": (["rotate.yml", "-e", '{"swarm_rotate_join_tokens": []}'], None),
    "rotate tokens": (["rotate.yml"], {"manager1"}),
    "remove worker2": (["remove_node.yml", "-e", "node=worker2", "-e", "swarm_remove_node_confirmed=true"],
                       {"localhost"}),
    "reset": (["reset.yml"], {"manager1", "worker1", "worker2"}),
}
# Real runs (not checks) given a name the inventory does not have: each stops before changing anything, with the names
# it knows. name: (arguments, what the message says)
REFUSALS = {
    "remove a typo": (["remove_node.yml", "-e", "node=workr2", "-e", "swarm_remove_node_confirmed=true"],
                      "manages: nothing was changed. Known names: inventory hosts manager1, manager2, manager3, worker1, "
                      "worker2; swarm nodes manager1, manager2, manager3, worker1, worker2."),
    "remove a list": (["remove_node.yml", "-e", "node=worker1,worker2", "-e", "swarm_remove_node_confirmed=true"],
                      "One node at a time (given: worker1,worker2): -e node=NAME"),
    "roll back a typo": (["stacks.yml", "-e", "rollback=wbe"],
                         "No stack wbe in swarm_stacks_list: nothing was rolled back. The inventory's stacks: web, "
                         "guestbook, visualizer."),
    "recover from a typo": (["recover.yml", "-e", "swarm_recover_from=manger1"],
                            "swarm_recover_from=manger1 is not a host of 'swarm_managers'. Name one of them: manager1, "
                            "manager2, manager3."),
}
# With the production defaults, a kernel feature the lab's kernel lacks stops the run, naming the fix (the lab's
# inventory asks for the fallbacks). name: (arguments, message, the probe that finds the feature, on which node)
MISSING_FEATURES = {
    "NFS client": (["site.yml", "--tags", "swarm_volumes", "-e", "swarm_volumes_nfs_missing=fail"],
                   "cannot mount NFS (no nfs4 in /proc/filesystems, no nfs module), and swarm_volumes_list has NFS "
                   "volumes (web_html, guestbook_db): nothing was created. Give those hosts a kernel with the nfs "
                   "module", "grep -qw nfs4 /proc/filesystems || modprobe -n nfs", "manager1"),
    "IPVS": (["stacks.yml", "-e", "swarm_stacks_publish_mode=ingress"],
             "has no IPVS (no /proc/net/ip_vs, no ip_vs module), which the ingress routing mesh and service VIPs need: "
             "nothing was deployed.", "test -e /proc/net/ip_vs || modprobe -n ip_vs", "manager1"),
    "NFS server": (["site.yml", "--tags", "nfs_server", "-e", "nfs_server_implementation=kernel"],
                   "The kernel of storage1 has no NFS server (no nfsd in /proc/filesystems, no nfsd module): nothing "
                   "was changed. Give it a kernel with the nfsd module, or set nfs_server_implementation in the "
                   "inventory to ganesha", "grep -qw nfsd /proc/filesystems || modprobe -n nfsd", "storage1"),
}


def missing_features(cluster) -> list[str]:
    return [name for name, (_, _, probe, node) in MISSING_FEATURES.items() if cluster.host(node).run(probe).rc != 0]


def cluster_state(cluster) -> dict:
    manager = cluster.host("manager1")
    return {
        "nodes": sorted((n["Hostname"], n["ID"], n["Status"], n["Availability"], n["ManagerStatus"] != "")
                        for n in cluster.nodes()),
        "tokens": [manager.check_output(f"docker swarm join-token -q {kind}") for kind in ("worker", "manager")],
        "services": sorted(manager.check_output(
            "docker service ls --format '{{.Name}} {{.Image}} {{.Mode}}'").splitlines()),
        "swarm": sorted(cluster.host(node.name).check_output("docker info --format '{{.Swarm.LocalNodeState}}'")
                        for node in cluster.spec.nodes),
    }


@pytest.fixture(scope="module")
def checked(cluster, tmp_path_factory) -> dict:
    """Every run's output, and the cluster's state before and after all of them."""
    before = cluster_state(cluster)
    missing = missing_features(cluster)
    env = lab_env(cluster.name)
    facts = Path(env["ANSIBLE_CACHE_PLUGIN_CONNECTION"])

    caches = {}
    for name in [*RUNS, *REFUSALS, *missing]:
        caches[name] = tmp_path_factory.mktemp("facts")
        if facts.is_dir():
            shutil.copytree(facts, caches[name], dirs_exist_ok=True)

    def check(name: str):
        args, mode = (RUNS[name][0], ["--check", "--diff"]) if name in RUNS else (
            (REFUSALS.get(name) or MISSING_FEATURES[name])[0], [])
        return name, playbook(args[0], lab_inventory(cluster.name), *args[1:], *mode, timeout=900,
                              **(env | {"ANSIBLE_CACHE_PLUGIN_CONNECTION": str(caches[name])}))

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(pool.map(check, [*RUNS, *REFUSALS, *missing]))
    return {"before": before, "after": cluster_state(cluster), "results": results}


@pytest.mark.parametrize("name", list(RUNS))
def test_the_check_exits_0_and_reports_only_what_a_run_would_change(checked, name: str) -> None:
    result = checked["results"][name]
    assert result.returncode == 0, f"{name}:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"
    hosts = recap(result.stdout)
    assert hosts and all(counts["failed"] == 0 and counts["unreachable"] == 0 for counts in hosts.values())
    changed = {host for host, counts in hosts.items() if counts["changed"]}
    allowed = RUNS[name][1]
    if allowed is None:
        assert changed == set(), f"{name} --check on the converged cluster reports changes on {sorted(changed)}"
    else:
        assert changed and changed <= allowed, f"{name} --check: changes reported on {sorted(changed)}"


def test_the_reset_plan_takes_the_managers_out_the_leader_last(cluster, checked) -> None:
    """reset.yml finds the Raft leader by its NodeID (preflight_swarm), not by its engine's hostname: its plan has
    every manager leave, the leader last."""
    output = checked["results"]["reset"].stdout
    task = output.split("Reset | managers leave, the leader last", 1)[1].split("TASK [", 1)[0]
    order = re.findall(r"\(item=([\w.-]+)\)", task)
    leader = next(n["Hostname"] for n in cluster.nodes() if n["ManagerStatus"] == "Leader")
    assert sorted(order) == ["manager1", "manager2", "manager3"] and order[-1] == leader, task[-3000:]


@pytest.mark.parametrize("name", list(REFUSALS))
def test_a_name_the_inventory_lacks_is_refused_with_the_names_it_has(checked, name: str) -> None:
    result = checked["results"][name]
    assert result.returncode != 0, result.stdout[-6000:]
    text = " ".join(result.stdout.split())
    assert REFUSALS[name][1] in text, result.stdout[-6000:]
    if name == "remove a typo":
        assert "workr2 is neither an inventory host nor a node of the swarm that manager" in text
    assert all(counts["changed"] == 0 for counts in recap(result.stdout).values()), result.stdout[-6000:]


@pytest.mark.parametrize("name", list(MISSING_FEATURES))
def test_a_missing_kernel_feature_stops_a_production_inventory_naming_the_fix(checked, name: str) -> None:
    result = checked["results"].get(name)
    if result is None:
        pytest.skip(f"this kernel has {name}: the run would use it, so the refusal cannot be shown here")
    assert result.returncode != 0, result.stdout[-6000:]
    assert MISSING_FEATURES[name][1] in " ".join(result.stdout.split()), result.stdout[-6000:]
    assert all(counts["changed"] == 0 for counts in recap(result.stdout).values()), result.stdout[-6000:]


def test_the_checks_left_the_cluster_exactly_as_it_was(checked) -> None:
    assert checked["after"] == checked["before"]


def test_remove_node_says_which_waits_check_mode_cannot_show(checked) -> None:
    output = " ".join(checked["results"]["remove worker2"].stdout.split())
    # A worker's leave is not waited for (node rm is forced right after it): the message claims no wait.
    assert "Check mode: worker2 has not left (nothing was changed): a run makes it leave, then removes its entry." \
        in output


def test_upgrade_names_the_nodes_already_at_the_target_version(checked) -> None:
    output = " ".join(checked["results"]["upgrade"].stdout.split())
    for node in ("manager1", "manager2", "manager3", "worker1", "worker2"):
        assert f"{node}: engine " in output and "is the target version: not drained, not restarted" in output


def test_reset_names_the_cluster_it_would_take_down_without_a_confirmation(checked) -> None:
    assert "Not confirmed" not in checked["results"]["reset"].stdout

