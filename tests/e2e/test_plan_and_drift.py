"""The plan, then apply: hand-made drift of nine kinds on the converged lab is reported by the check run with its
name (in the plan written per host and per object), left exactly as it is by that run, fixed by the real run, after
which a second plan shows nothing to change.

All kinds are made at once and judged from the same three runs (plan, apply, plan): each kind is asserted the three
ways at the cost of one check, one converge and one check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import REPO, lab_env, lab_inventory, playbook, recap

# A network of this test's own: the lab's overlay carries the stacks and cannot be recreated under them.
DRIFT_NETWORK = {"name": "swarmforge_drift", "subnet": "10.202.0.0/24", "labels": {"io.swarmforge.drift": "wanted"},
                 "recreate": "when_unused"}


def rewrite(cluster, node: str, path: str, old: str, new: str) -> None:
    """Edit a file in place, as an operator's editor would (a container's /etc/hosts cannot be replaced by rename)."""
    script = f"p={path!r}; t=open(p).read(); assert {old!r} in t, t; open(p, 'w').write(t.replace({old!r}, {new!r}))"
    done = cluster.host(node).run(f"python3 -c {json.dumps(script)}")
    assert done.rc == 0, done.stderr


def read(cluster, node: str, path: str) -> str:
    return cluster.host(node).file(path).content_string


@pytest.fixture(scope="module")
def drift(cluster, tmp_path_factory) -> dict:
    """Nine kinds of drift, made by hand on the converged lab; what each was before, to compare after the runs."""
    address = {node.name: node.address for node in cluster.spec.nodes}
    registry = f"{address['storage1']}:5000"
    manager = cluster.host("manager1")
    lab_vars = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "all" / "lab.yml").read_text())
    extra = json.dumps({"swarm_networks_overlays": [*lab_vars["swarm_networks_overlays"], DRIFT_NETWORK]})
    created = manager.run(f"docker network create -d overlay --subnet {DRIFT_NETWORK['subnet']} "
                          "--label io.swarmforge.drift=by-hand swarmforge_drift")
    assert created.rc == 0, created.stderr
    made = {
        "daemon.json": ("worker2", "/etc/docker/daemon.json"),
        "hosts block": ("worker1", "/etc/hosts"),
        "firewall members": ("manager2", "/etc/swarmforge/members.nft"),
        "chrony server": ("manager3", "/etc/chrony/chrony.conf"),
        "nfs export": ("storage1", "/etc/ganesha/ganesha.conf"),
    }
    rewrite(cluster, "worker2", "/etc/docker/daemon.json", '"max-file": "3"', '"max-file": "4"')
    rewrite(cluster, "worker1", "/etc/hosts", f"{address['manager3']} manager3.", "172.28.90.99 manager3.")
    rewrite(cluster, "manager2", "/etc/swarmforge/members.nft", f", {address['worker2']}", "")
    rewrite(cluster, "manager3", "/etc/chrony/chrony.conf", f"server {address['manager1']} ", f"server {address['manager2']} ")
    rewrite(cluster, "storage1", "/etc/ganesha/ganesha.conf", "/srv/nfs/guestbook-db", "/srv/nfs/guestbook-gone")
    for command in ("docker node update --label-rm swarmforge.db worker1",
                    "docker node update --availability pause worker2",
                    f"docker service update -d --image {registry}/swarmforge/web:v2 --update-parallelism 0 web_web"):
        done = manager.run(command)
        assert done.rc == 0, (command, done.stderr)
    files = {kind: read(cluster, node, path) for kind, (node, path) in made.items()}
    return {"extra": extra, "files": files, "made": made, "dir": tmp_path_factory.mktemp("plan")}


def plan(cluster, drift: dict):
    env = {**lab_env(cluster.name), "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks,swarmforge.swarm.plan",
           "SWARMFORGE_PLAN_DIR": str(drift["dir"])}
    result = playbook("site.yml", lab_inventory(cluster.name), "--check", "--diff", "-e", drift["extra"], **env)
    return result, (Path(drift["dir"]) / f"{cluster.name}-plan.md").read_text(encoding="utf-8")


def section(markdown: str, host: str) -> str:
    """The plan's part for one host."""
    parts = markdown.split(f"\n## {host}\n")
    return parts[1].split("\n## ")[0] if len(parts) > 1 else ""


def test_the_plan_names_every_drift_and_changes_nothing(cluster, drift) -> None:
    result, markdown = plan(cluster, drift)
    assert result.returncode == 0, result.stdout[-6000:]
    assert "PLAN: " in result.stdout and f"{cluster.name}-plan.md" in result.stdout
    expected = {  # host: what the plan says of it
        "worker2": ["Docker engine | daemon.json", '"max-file": "3"', '"max-file": "4"',
                    "Swarm | labels and availability"],
        "worker1": ["Host prep | cluster nodes in /etc/hosts", "172.28.90.99 manager3", "Swarm | labels and availability"],
        "manager2": ["Host prep | cluster members", "members4"],
        "manager3": ["Host prep | chrony configuration", "iburst"],
        "storage1": ["NFS server | ganesha.conf", "/srv/nfs/guestbook-gone"],
        "manager1": ["Swarm networks | overlay networks — swarmforge_drift", "Swarm stacks | deploy web"],
    }
    for host, phrases in expected.items():
        part = section(markdown, host)
        for phrase in phrases:
            assert phrase in part, (host, phrase, markdown)
    page = (Path(drift["dir"]) / f"{cluster.name}-plan.html").read_text(encoding="utf-8")
    assert "<script" not in page and all(f"<h2>{host}</h2>" in page for host in expected)
    assert {host for host, counts in recap(result.stdout).items() if counts["changed"]} == set(expected)
    # Nothing was changed: every drift is still there.
    for kind, (node, path) in drift["made"].items():
        assert read(cluster, node, path) == drift["files"][kind], kind
    nodes = {n["Description"]["Hostname"]: n["Spec"] for n in cluster.docker_json(
        "manager1", "docker node inspect $(docker node ls -q)")}
    assert "swarmforge.db" not in (nodes["worker1"].get("Labels") or {}) and nodes["worker2"]["Availability"] == "pause"
    web = cluster.docker_json("manager1", "docker service inspect web_web")[0]["Spec"]
    assert web["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0].endswith("/swarmforge/web:v2")
    network = cluster.docker_json("manager1", "docker network inspect swarmforge_drift")[0]
    assert network["Labels"] == {"io.swarmforge.drift": "by-hand"}


def test_the_run_fixes_every_drift_and_a_second_plan_is_empty(cluster, drift) -> None:
    applied = playbook("site.yml", lab_inventory(cluster.name), "-e", drift["extra"], **lab_env(cluster.name))
    assert applied.returncode == 0, applied.stdout[-6000:]
    try:
        result, markdown = plan(cluster, drift)
        assert result.returncode == 0, result.stdout[-6000:]
        assert "Nothing would change: every host is as the inventory asks." in markdown, markdown
        assert {host: c["changed"] for host, c in recap(result.stdout).items() if c["changed"]} == {}
        for kind, (node, path) in drift["made"].items():
            assert read(cluster, node, path) != drift["files"][kind], f"{kind} is as the inventory asks again"
        nodes = {n["Description"]["Hostname"]: n["Spec"] for n in cluster.docker_json(
            "manager1", "docker node inspect $(docker node ls -q)")}
        assert nodes["worker1"]["Labels"] == {"swarmforge.db": "true"} and nodes["worker2"]["Availability"] == "active"
        web = cluster.docker_json("manager1", "docker service inspect web_web")[0]["Spec"]
        assert web["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0].endswith("/swarmforge/web:v1")
        assert web["UpdateConfig"]["Parallelism"] == 1
        network = cluster.docker_json("manager1", "docker network inspect swarmforge_drift")[0]
        assert network["Labels"] == {"io.swarmforge.drift": "wanted"}
    finally:
        cluster.host("manager1").run("docker network rm swarmforge_drift")
