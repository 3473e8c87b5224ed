"""The docker-ce source path on the converged lab: Docker's repository set up with its signing key, docker-ce,
docker-ce-cli and containerd.io installed from it and held; a pin of the running version changes nothing; a pin of
another version on swarm members is refused before any package moves, naming upgrade.yml."""

from __future__ import annotations

import json

from helpers import lab_playbook, recap

from lab import dockerrepo
from lab.spec import DEBIAN_SUITES


def release(cluster) -> str:
    """The Debian release of the lab's nodes (one for the whole test lab)."""
    (only,) = {node.debian for node in cluster.spec.nodes}
    return only


def packages(host) -> dict[str, str]:
    listed = host.check_output("dpkg-query -W -f '${Package}=${Version}\\n' docker-ce docker-ce-cli containerd.io")
    return dict(line.split("=", 1) for line in listed.splitlines())


def test_every_node_runs_docker_ce_from_the_signed_repository_held(cluster) -> None:
    first, second = dockerrepo.versions(release(cluster))
    suite = DEBIAN_SUITES[release(cluster)]
    base = dockerrepo.base_url(cluster.spec)
    for node in ("manager1", "worker1"):
        host = cluster.host(node)
        installed = packages(host)
        assert (installed["docker-ce"], installed["docker-ce-cli"]) == (first, first)
        assert installed["containerd.io"].endswith("-1")
        assert host.package("docker.io").is_installed is False
        assert set(host.check_output("apt-mark showhold").split()) >= {"docker-ce", "docker-ce-cli"}
        sources = host.file("/etc/apt/sources.list.d/docker.sources").content_string
        assert f"URIs: {base}/debian" in sources and f"Suites: {suite}" in sources and "Components: stable" in sources
        assert "Signed-By: /etc/apt/keyrings/docker.asc" in sources
        policy = host.check_output("apt-cache policy docker-ce")
        assert f"{base}/debian {suite}/stable amd64 Packages" in policy
        assert second not in policy, "the second version is not published before the lifecycle's upgrade"
        # apt verified the index with that key: a tampered signature would leave no list of the repository at all.
        assert host.run(f"ls /var/lib/apt/lists/ | grep -q '_docker-ce_linux_debian_dists_{suite}_InRelease$'").rc == 0
        assert cluster.docker_json(node, "docker info --format '{{json .Swarm.LocalNodeState}}'") == "active"


def test_a_pin_of_the_running_version_changes_nothing_and_another_is_refused(cluster) -> None:
    first, second = dockerrepo.versions(release(cluster))
    worker = cluster.host("worker1")
    started = worker.check_output("systemctl show docker --property=ExecMainStartTimestamp --value")
    pinned = lab_playbook(cluster.name, "site.yml", "--tags", "docker_engine", "-e",
                          json.dumps({"docker_engine_version": first}))
    assert pinned.returncode == 0, pinned.stdout[-4000:]
    assert all(counts["changed"] == 0 for counts in recap(pinned.stdout).values()), pinned.stdout[-4000:]
    # Another version on swarm members: refused on each before a package moves, naming the rolling path.
    refused = lab_playbook(cluster.name, "site.yml", "--tags", "docker_engine", "-e",
                           json.dumps({"docker_engine_version": second}))
    text = " ".join(refused.stdout.split())
    assert refused.returncode != 0
    for node in ("manager1", "manager2", "worker1"):
        assert (f"{node} is a swarm member whose engine runs docker-ce {first}, not the pinned {second}; site.yml "
                "does not change a swarm member's engine package, which would restart every member at once: move "
                f"the cluster node by node with `ansible-playbook upgrade.yml -e docker_engine_upgrade_version={second}`"
                in text), refused.stdout[-4000:]
    assert all(counts["changed"] == 0 for counts in recap(refused.stdout).values())
    assert packages(worker)["docker-ce"] == first
    assert worker.check_output("systemctl show docker --property=ExecMainStartTimestamp --value") == started
