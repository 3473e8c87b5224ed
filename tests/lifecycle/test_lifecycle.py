"""The cluster's life on the lab, one step after another, each checked with the docker CLI on a manager:
rerun (changed=0) -> shrink from 3 managers to 1 with remove_node.yml twice (the tutorials' 1 + 2) -> grow back to 3
managers and a third worker with scale.yml -> stack update v1 -> v2 and rollback -> two workers promoted by moving
them into swarm_managers (5 managers) and demoted by moving them back -> remove a worker -> autolock on (its key kept
in a vault) -> rolling engine upgrade to the next docker-ce the lab's repository publishes (a version the source
lacks refused; each manager unlocked after its restart; the last node's new engine does not start: it gets its
previous one back, and the next run moves it; quorum and the web stack answer throughout) ->
rotate tokens, the root CA and the unlock key -> a manager restarted by hand is unlocked with the vault's key ->
a daemon option the engine refuses stops at the canary, rolled back -> an engine killed while it restarts is waited
for -> status report -> a worker that does not answer (status and stacks go on, site.yml
stops) -> every host restarted at once (site.yml waits for the pending nodes) -> lose quorum and recover -> reset
(SSH still answers) -> manager hosts in two swarms (one only by a worker's certificate): split brain, refused
before anything changes."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
import time
import urllib.request

import yaml
from helpers import REPO, TEST_LAB_SUBNET, VENV_BIN, lab_cli, lab_playbook, recap

from lab import dockerrepo
from lab.secrets import secret_values

CONFIRMED = ["-e", "swarm_remove_node_confirmed=true"]
# Autolock, from test_6b on: the vault file that holds swarm_unlock_key, and the keys the swarm had.
AUTOLOCK: dict = {"args": [], "keys": []}


def run_ok(cluster, playbook: str, *args: str, timeout: float = 1800) -> str:
    result = lab_playbook(cluster.name, playbook, *args, timeout=timeout)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    return result.stdout


def changed_hosts(output: str) -> dict[str, int]:
    return {host: counts["changed"] for host, counts in recap(output).items() if counts["changed"]}


def nodes(cluster, via: str = "manager1") -> dict[str, dict]:
    """Hostname -> its live entry (a node that left and came back may also have an old, Down one)."""
    listed = cluster.nodes(via)
    live = {n["Hostname"]: n for n in listed if n["Status"] != "Down"}
    return live | {n["Hostname"]: n for n in listed if n["Hostname"] not in live}


def unready(cluster, via: str = "manager1") -> dict[str, dict]:
    """Every node entry that is not Ready, as `docker node inspect` tells it (an entry that never registered has no
    hostname: its ID, creation time and role say which join or change left it)."""
    ids = [n["ID"] for n in cluster.nodes(via) if n["Status"] != "Ready"]
    if not ids:
        return {}
    entries = cluster.docker_json(via, "docker node inspect " + " ".join(ids))
    return {e["ID"]: {"hostname": e.get("Description", {}).get("Hostname", ""), "state": e["Status"]["State"],
                      "message": e["Status"].get("Message", ""), "created": e["CreatedAt"], "updated": e["UpdatedAt"],
                      "role": e["Spec"].get("Role"), "manager": e.get("ManagerStatus")} for e in entries}


def managers(cluster, via: str = "manager1") -> dict[str, str]:
    return {name: n["ManagerStatus"] for name, n in nodes(cluster, via).items() if n["ManagerStatus"]}


def lab_up(cluster, managers_count: int, workers_count: int) -> None:
    up = lab_cli(cluster.name, "up", "--managers", str(managers_count), "--workers", str(workers_count),
                 "--subnet", TEST_LAB_SUBNET, capture=False)
    assert up.returncode == 0, f"lab {cluster.name}: `up` failed"
    cluster.refresh()


def web_answers(cluster) -> set[str]:
    lb_node = cluster.host("manager1").run(
        "docker service ps web_lb --filter desired-state=running --format '{{.Node}}'").stdout.split()[0]
    address = next(node.address for node in cluster.spec.nodes if node.name == lb_node)
    answers = set()
    for _ in range(6):
        try:
            with urllib.request.urlopen(f"http://{address}:8080/", timeout=5) as response:
                answers.add(response.read().decode().strip().rsplit(" from ", 1)[0])
        except OSError as error:  # haproxy between two DNS answers while tasks are replaced
            answers.add(f"no answer: {error}")
    return answers


def test_1_rerun_changes_nothing(cluster) -> None:
    # In the suite's session the end-to-end tests already made a rerun that changed nothing (test_site.py); on a lab
    # converged by this session's fixture alone, the converge may already be a rerun; otherwise run one.
    output = cluster.noop_rerun or cluster.first_converge
    if changed_hosts(output):
        output = run_ok(cluster, "site.yml")
    assert changed_hosts(output) == {}


def test_2_shrink_to_one_manager_with_remove_node_twice(cluster) -> None:
    # 3 -> 2 -> 1 managers, one remove_node.yml run each: quorum is checked before each demotion.
    for name, left in (("manager3", ["Leader", "Reachable"]), ("manager2", ["Leader"])):
        run_ok(cluster, "remove_node.yml", "-e", f"node={name}", *CONFIRMED)
        listed = nodes(cluster)
        assert name not in listed and sorted(managers(cluster).values()) == left
        assert all(n["Status"] == "Ready" for n in listed.values())
    lab_up(cluster, 1, 2)  # the lab drops the two containers: 1 manager + 2 workers (and the storage host)
    assert managers(cluster) == {"manager1": "Leader"}
    cluster.wait(lambda: web_answers(cluster) == {"swarmforge web v1"}, "the application still answers", timeout=120)


def test_3_grow_to_three_managers_and_a_worker_with_scale(cluster) -> None:
    lab_up(cluster, 3, 3)  # two new hosts listed as managers, one as a worker
    # -vvv: the most an operator's log can show of a join; no join token may be in it.
    output = run_ok(cluster, "scale.yml", "--limit", "manager2:manager3:worker3", "-vvv")
    for kind in ("worker", "manager"):
        token = cluster.host("manager1").check_output(f"docker swarm join-token -q {kind}")
        assert token and token not in output, f"the {kind} join token is in scale.yml's -vvv output"
    assert set(recap(output)) == {"manager2", "manager3", "worker3"}, "only the new hosts are in the run"
    joined = [line for line in output.splitlines() if line.startswith("TASK [swarmforge.swarm.swarm : Swarm | managers join")]
    assert joined, "the managers joined through the one-at-a-time task"
    listed = nodes(cluster)
    assert listed["worker3"]["Status"] == "Ready" and listed["worker3"]["ManagerStatus"] == ""
    assert unready(cluster) == {}, "every entry is a node that joined and is Ready"
    assert sorted(managers(cluster).values()) == ["Leader", "Reachable", "Reachable"]
    # The members the run left out admitted the new hosts: worker3 reaches manager1's cluster port.
    manager1 = next(n.address for n in cluster.spec.nodes if n.name == "manager1")
    probe = cluster.host("worker3").run(f"timeout 3 bash -c '</dev/tcp/{manager1}/2377' && echo open")
    assert probe.stdout.strip() == "open"
    again = run_ok(cluster, "scale.yml")
    assert changed_hosts(again) == {}, "nothing is new any more"


def test_4_stack_update_then_rollback(cluster) -> None:
    output = run_ok(cluster, "stacks.yml", "-e", "lab_web_version=v2", "-vvv")
    assert "web_web" in output and changed_hosts(output)
    for name, value in secret_values(cluster.spec).items():
        assert value not in output, f"the stack secret {name} is in stacks.yml's -vvv output"
    login = base64.b64encode(f"swarmforge:{secret_values(cluster.spec)['registry_password']}".encode()).decode()
    assert login not in output, "the registry login (as config.json and X-Registry-Auth carry it) is in the output"
    service = cluster.docker_json("manager1", "docker service inspect web_web")[0]
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0].endswith("/swarmforge/web:v2")
    assert service["UpdateStatus"]["State"] == "completed"
    cluster.wait(lambda: web_answers(cluster) == {"swarmforge web v2"}, "every answer comes from v2", timeout=60)
    run_ok(cluster, "stacks.yml", "-e", "rollback=web", "-e", "services=web")
    service = cluster.docker_json("manager1", "docker service inspect web_web")[0]
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0].endswith("/swarmforge/web:v1")
    assert service["UpdateStatus"]["State"] == "rollback_completed"
    cluster.wait(lambda: web_answers(cluster) == {"swarmforge web v1"}, "every answer comes from v1", timeout=60)
    again = run_ok(cluster, "stacks.yml")
    assert changed_hosts(again) == {}, "the rollback restored exactly what the inventory asks for"


def move_to_group(cluster, hosts: list[str], group: str) -> None:
    """Edit the lab's inventory as an operator would: each host moves, with its variables, into another group
    (`lab up` writes the lab's own inventory back)."""
    path = cluster.spec.inventory_path
    inventory = yaml.safe_load(path.read_text(encoding="utf-8"))
    swarm = inventory["all"]["children"]["swarm"]["children"]
    for name in hosts:
        source = next(g for g in swarm.values() if name in (g.get("hosts") or {}))
        swarm.setdefault(group, {}).setdefault("hosts", {})[name] = source["hosts"].pop(name)
    path.write_text(yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")


def test_5_promote_two_workers_by_moving_groups_then_back(cluster) -> None:
    assert unready(cluster) == {}, "before the promotions"
    move_to_group(cluster, ["worker1", "worker2"], "swarm_managers")  # five managers, one worker
    run_ok(cluster, "site.yml")
    assert unready(cluster) == {}, "after the promotions"
    roles = managers(cluster)
    assert sorted(roles) == ["manager1", "manager2", "manager3", "worker1", "worker2"]
    assert sorted(roles.values()) == ["Leader", "Reachable", "Reachable", "Reachable", "Reachable"]
    assert nodes(cluster)["worker3"]["ManagerStatus"] == ""
    again = run_ok(cluster, "site.yml")  # five managers converged: a rerun changes nothing, and the stacks answer
    assert changed_hosts(again) == {}
    cluster.wait(lambda: web_answers(cluster) == {"swarmforge web v1"}, "the application answers", timeout=120)
    lab_up(cluster, 3, 3)  # the lab's inventory again: worker1 and worker2 listed as workers
    run_ok(cluster, "site.yml")
    assert sorted(managers(cluster)) == ["manager1", "manager2", "manager3"]
    # The demotion waited until each demoted node was Ready again as a worker (its agent registered with another
    # manager), before the next one and before the run went on.
    assert unready(cluster) == {}
    cluster.wait(lambda: web_answers(cluster) == {"swarmforge web v1"}, "the application answers", timeout=120)


def test_6_remove_a_worker(cluster) -> None:
    run_ok(cluster, "remove_node.yml", "-e", "node=worker3", *CONFIRMED)
    listed = nodes(cluster)
    assert "worker3" not in listed and all(n["Status"] == "Ready" for n in listed.values())
    # Run again while the inventory still lists it: the node is gone, nothing to do.
    again = run_ok(cluster, "remove_node.yml", "-e", "node=worker3", *CONFIRMED)
    assert "nothing to do" in again and changed_hosts(again) == {}
    lab_up(cluster, 3, 2)  # the lab drops the container; the inventory is back to 3 + 2
    # Now neither the inventory nor the swarm knows worker3: a name like that is a typo, refused with the known ones.
    refused = lab_playbook(cluster.name, "remove_node.yml", "-e", "node=worker3", *CONFIRMED)
    assert refused.returncode != 0 and changed_hosts(refused.stdout) == {}
    assert "worker3 is neither an inventory host nor a node of the swarm" in " ".join(refused.stdout.split())


def in_a_vault(cluster, folder, key: str):
    """A vars file with autolock on and its unlock key, encrypted with the lab's vault password (as an operator keeps
    it), for `-e @file`."""
    path = folder / f"autolock-{len(AUTOLOCK['keys'])}.yml"
    path.write_text(f"swarm_autolock: true\nswarm_unlock_key: {key}\n", encoding="utf-8")
    encrypted = subprocess.run([str(VENV_BIN / "ansible-vault"), "encrypt", "--vault-password-file",
                                str(REPO / ".lab" / cluster.name / "vault-password"), str(path)],
                               capture_output=True, text=True, check=False)
    assert encrypted.returncode == 0, encrypted.stderr
    assert key not in path.read_text(encoding="utf-8")
    AUTOLOCK["keys"].append(key)
    AUTOLOCK["args"] = ["-e", f"@{path}"]


def local_state(cluster, name: str) -> str:
    return cluster.host(name).run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip()


def test_6b_autolock_on_with_its_key_kept_in_a_vault(cluster, tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp("autolock")
    key_file = folder / "unlock-key"
    output = run_ok(cluster, "site.yml", "--tags", "swarm", "-e", "swarm_autolock=true",
                    "-e", f"swarm_unlock_key_file={key_file}")
    assert changed_hosts(output), "turning autolock on is a change"
    key = key_file.read_text(encoding="utf-8").strip()
    assert key.startswith("SWMKEY-1-") and key_file.stat().st_mode & 0o777 == 0o600
    assert key not in output, "the unlock key reached Ansible's output"
    assert f"with the key now in {key_file}. Put it in the inventory's vault as swarm_unlock_key" in " ".join(
        output.split())
    assert cluster.host("manager1").check_output("docker swarm unlock-key -q") == key
    in_a_vault(cluster, folder, key)
    AUTOLOCK["folder"] = folder


BREAK_ONCE = ("DPkg::Post-Invoke {\"if [ ! -e /var/tmp/swarmforge-broke ]; then touch /var/tmp/swarmforge-broke; "
              "chmod -x /usr/sbin/dockerd; fi\";};")


class Watch(threading.Thread):
    """Looks at the cluster every two seconds while a run goes on (`with Watch(cluster) as watch: ...`)."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster, self.done = cluster, threading.Event()

    def look(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while not self.done.is_set():
            self.look()
            self.done.wait(2)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.join()


class UpgradeWatch(Watch):
    """Does some manager answer `docker node ls` (it needs a leader: quorum held), and does the web stack answer where
    its load balancer runs (found through any manager that answers)."""

    def __init__(self, cluster):
        super().__init__(cluster)
        self.rounds: list[tuple[float, bool, bool]] = []

    def _lb_address(self) -> str | None:
        for name in ("manager1", "manager2", "manager3"):
            answer = self.cluster.host(name).run(
                "docker node ls -q >/dev/null && "
                "docker service ps web_lb --filter desired-state=running --format '{{.Node}}'")
            if answer.rc == 0:
                node = (answer.stdout.split() or [""])[0]
                return next((n.address for n in self.cluster.spec.nodes if n.name == node), "")
        return None

    def look(self) -> None:
        address, answered = self._lb_address(), False
        if address:
            try:
                with urllib.request.urlopen(f"http://{address}:8080/", timeout=5) as response:
                    answered = response.read().decode().startswith("swarmforge web")
            except OSError:
                pass
        self.rounds.append((time.monotonic(), address is not None, answered))

    def longest_silence(self) -> float:
        """Seconds between two rounds in which the web stack answered (the whole watch when it never did)."""
        times = [self.rounds[0][0]] + [at for at, _, answered in self.rounds if answered] + [self.rounds[-1][0]]
        return max(later - earlier for earlier, later in zip(times, times[1:], strict=False))


def engine_packages(cluster) -> dict[str, str]:
    return {name: cluster.host(name).check_output("dpkg-query -W -f '${Version}' docker-ce")
            for name in ("manager1", "manager2", "manager3", "worker1", "worker2")}


def test_7_rolling_engine_upgrade(cluster) -> None:
    before = {name: n["EngineVersion"] for name, n in nodes(cluster).items()}
    (debian,) = {node.debian for node in cluster.spec.nodes}
    first, second = dockerrepo.versions(debian)
    assert set(engine_packages(cluster).values()) == {first}
    # A version the package source does not have: refused before any node is drained.
    missing = lab_playbook(cluster.name, "upgrade.yml", "-e", "docker_engine_upgrade_version=99.0-missing",
                           *AUTOLOCK["args"])
    assert missing.returncode != 0 and changed_hosts(missing.stdout) == {}
    assert "manager1: docker-ce 99.0-missing is not offered by this host's package sources (offered: " in " ".join(
        missing.stdout.split()), missing.stdout[-4000:]
    assert all(n["Availability"] == "Active" for n in nodes(cluster).values())
    # The repository publishes docker-ce's next packaged version (lab/dockerrepo.py: the same engine repacked).
    published = lab_cli(cluster.name, "docker-ce-release")
    assert published.returncode == 0 and second in published.stdout, published.stdout + published.stderr
    # The last node's new engine will not start: a one-shot package hook takes dockerd's execute bit once.
    worker2 = cluster.host("worker2")
    assert worker2.run(f"echo '{BREAK_ONCE}' > /etc/apt/apt.conf.d/99swarmforge-break && "
                       "rm -f /var/tmp/swarmforge-broke").rc == 0
    try:
        # To the newest version the source offers. Autolock is on: each manager comes back locked and is unlocked
        # with the vault's key before the next one.
        with UpgradeWatch(cluster) as first_run:
            broken = lab_playbook(cluster.name, "upgrade.yml", "-e", "upgrade_worker_batch=50%", *AUTOLOCK["args"],
                                  timeout=3600)
    finally:
        worker2.run("rm -f /etc/apt/apt.conf.d/99swarmforge-break /var/tmp/swarmforge-broke")
    output = broken.stdout
    assert broken.returncode != 0 and worker2.run("test -x /usr/sbin/dockerd").rc == 0
    text = " ".join(output.split())
    assert f"docker-ce {first} -> {second}" in text, output[-6000:]
    assert "worker2: engine " in text and " did not come back (Docker engine | restart worker2: " in text, output[-6000:]
    assert "Failed at step EXEC spawning /usr/sbin/dockerd: Permission denied" in text
    assert "worker2 runs engine " in text and " again, Ready and active. The rollout stopped here" in text
    assert all(f"Docker engine | autolock, unlock {name}" in output for name in ("manager1", "manager2", "manager3"))
    assert not any(key in output for key in AUTOLOCK["keys"])
    order = [line.split(" on ")[-1].split(" ")[0].rstrip("]") for line in output.splitlines()
             if line.startswith("TASK [swarmforge.swarm.swarm_upgrade : Upgrade | drain, and wait until no task runs, on ")]
    # Managers one at a time, in order; then the workers, half of them at a time.
    assert order[:3] == ["manager1", "manager2", "manager3"] and sorted(order[3:]) == ["worker1", "worker2"]
    # Every node but the one whose engine did not start runs the new packages; that one has its previous ones back.
    assert engine_packages(cluster) == {"manager1": second, "manager2": second, "manager3": second,
                                        "worker1": second, "worker2": first}
    listed = nodes(cluster)
    assert all(n["Status"] == "Ready" and n["Availability"] == "Active" for n in listed.values())
    assert {name: n["EngineVersion"] for name, n in listed.items()}.keys() == before.keys()
    cluster.wait(lambda: all(s["Replicas"].split(" ")[0].split("/")[0] == s["Replicas"].split(" ")[0].split("/")[1]
                             for s in cluster.docker_json("manager1", "docker service ls --format '{{json .}}'")),
                 "every service runs its replicas", timeout=120)
    # The same run again moves the node that is still behind, and only that one.
    with UpgradeWatch(cluster) as second_run:
        again = run_ok(cluster, "upgrade.yml", "-e", "upgrade_worker_batch=50%", *AUTOLOCK["args"])
    assert set(changed_hosts(again)) == {"worker2"}, changed_hosts(again)
    drained = [line.split(" on ")[-1].split(" ")[0].rstrip("]") for line in again.splitlines()
               if line.startswith("TASK [swarmforge.swarm.swarm_upgrade : Upgrade | drain, and wait until no task runs, on ")]
    assert drained == ["worker2"], again[-4000:]
    assert set(engine_packages(cluster).values()) == {second}
    assert set(cluster.host("worker2").check_output("apt-mark showhold").split()) >= {"docker-ce", "docker-ce-cli"}
    # Quorum held at every moment of both runs; the web stack answered throughout, except while its one load
    # balancer task moved off a drained node (host-mode ports: no routing mesh carries requests meanwhile).
    for watch in (first_run, second_run):
        assert len(watch.rounds) >= 5 and all(quorum for _, quorum, _ in watch.rounds), watch.rounds
        print(f"upgrade: {len(watch.rounds)} rounds, longest time without a web answer "
              f"{watch.longest_silence():.0f}s")
        assert watch.longest_silence() <= 45, watch.rounds
    # Every engine is at the target version now: a third run leaves every node as it is.
    third = run_ok(cluster, "upgrade.yml", "-e", "upgrade_worker_batch=50%", *AUTOLOCK["args"])
    assert changed_hosts(third) == {}, changed_hosts(third)
    assert "Upgrade | drain, and wait until no task runs" not in third
    text = " ".join(third.split())
    assert all(f"{name}: engine " in text for name in before) and "is the target version: not drained" in text


def test_8_rotate_join_tokens_the_root_ca_and_the_unlock_key(cluster) -> None:
    manager = cluster.host("manager1")
    tokens = {kind: manager.check_output(f"docker swarm join-token -q {kind}") for kind in ("worker", "manager")}
    root = manager.check_output("docker info --format '{{.Swarm.Cluster.TLSInfo.TrustRoot}}'")
    key_file = AUTOLOCK["folder"] / "rotated-unlock-key"
    output = run_ok(cluster, "rotate.yml", "-e", "swarm_rotate_ca=true", "-e", "swarm_rotate_unlock_key=true",
                    "-e", f"swarm_rotate_unlock_key_file={key_file}")
    assert ("Rotated worker token, manager token, root CA, unlock key." in " ".join(output.split())
            and f"The new unlock key is in {key_file}." in " ".join(output.split()))
    rotated = key_file.read_text(encoding="utf-8").strip()
    assert rotated != AUTOLOCK["keys"][-1] and manager.check_output("docker swarm unlock-key -q") == rotated
    assert rotated not in output and key_file.stat().st_mode & 0o777 == 0o600
    AUTOLOCK["rotated"] = rotated
    assert all(manager.check_output(f"docker swarm join-token -q {kind}") != token for kind, token in tokens.items())
    assert manager.check_output("docker info --format '{{.Swarm.Cluster.TLSInfo.TrustRoot}}'") != root
    for token in tokens.values():
        assert token not in output, "a join token reached Ansible's output"
    assert all(n["Status"] == "Ready" for n in nodes(cluster).values()), "every node holds a certificate of the new root"


def test_8b_a_manager_restarted_locked_is_unlocked_with_the_vault_key(cluster) -> None:
    assert cluster.host("manager2").run("systemctl restart docker").rc == 0
    cluster.wait(lambda: local_state(cluster, "manager2") == "locked", "manager2 comes back locked", timeout=90)
    # The vault still holds the key from before the rotation: the run stops, naming the fix.
    stale = lab_playbook(cluster.name, "site.yml", "--tags", "swarm", *AUTOLOCK["args"])
    assert stale.returncode != 0 and "is not this swarm's current unlock key" in " ".join(stale.stdout.split())
    in_a_vault(cluster, AUTOLOCK["folder"], AUTOLOCK["rotated"])
    output = run_ok(cluster, "site.yml", "--tags", "swarm", "-vvv", *AUTOLOCK["args"])
    assert local_state(cluster, "manager2") == "active"
    assert sorted(managers(cluster).values()) == ["Leader", "Reachable", "Reachable"]
    assert not any(key in output + stale.stdout for key in AUTOLOCK["keys"]), "an unlock key reached -vvv output"
    again = run_ok(cluster, "site.yml", "--tags", "swarm", *AUTOLOCK["args"])
    assert changed_hosts(again) == {}, changed_hosts(again)
    # Autolock off again (the inventory's default), for the steps after this one.
    off = run_ok(cluster, "site.yml", "--tags", "swarm")
    assert changed_hosts(off) and cluster.host("manager1").run("docker swarm unlock-key -q").rc != 0


def engines(cluster) -> dict[str, tuple[str, str]]:
    """Every lab host: (the engine's process id, daemon.json's sha256). A restart changes the first, a write the
    second."""
    found = {}
    for node in cluster.spec.nodes:
        host = cluster.host(node.name)
        found[node.name] = (host.check_output("systemctl show -p MainPID --value docker"),
                            hashlib.sha256(host.check_output("cat /etc/docker/daemon.json").encode()).hexdigest())
    return found


def daemon_options_file(cluster, folder, name: str, expression: str):
    """A vars file giving docker_engine_daemon_options as EXPRESSION over the inventory's own options (the live file
    of a converged node, as `base`)."""
    base = json.loads(cluster.host("worker1").check_output("cat /etc/docker/daemon.json"))
    path = folder / f"{name}.yml"
    path.write_text(yaml.safe_dump({"test_base_daemon_options": base,
                                    "docker_engine_daemon_options": "{{ " + expression + " }}"}), encoding="utf-8")
    return path


class QuorumWatch(Watch):
    """Asks manager1 for the node list; any refusal means no leader answered."""

    def __init__(self, cluster):
        super().__init__(cluster)
        self.refusals: list[str] = []
        self.asked = 0

    def look(self) -> None:
        answer = self.cluster.host("manager1").run("docker node ls -q")
        self.asked += 1
        if answer.rc != 0:
            self.refusals.append(answer.stderr.strip())


def test_8c_an_option_the_engine_refuses_reaches_the_canary_only(cluster, tmp_path_factory) -> None:
    """A daemon option that every static check accepts but the engine refuses at start: the canary (the first worker)
    takes it, does not come back, gets its previous file back and runs again; no other host is touched."""
    bad = daemon_options_file(cluster, tmp_path_factory.mktemp("engine"), "bad-log-driver",
                              "test_base_daemon_options | combine({'log-driver': 'no-such-driver'})")
    before = engines(cluster)
    with QuorumWatch(cluster) as watch:
        refused = lab_playbook(cluster.name, "site.yml", "--tags", "docker_engine", "-e", f"@{bad}")
    assert refused.returncode != 0
    text = " ".join(refused.stdout.split())
    assert "worker1: The engine did not come back with the new daemon.json" in text, refused.stdout[-6000:]
    assert "the engine refused log-driver" in text and 'plugin "no-such-driver" not found' in text
    assert "got its previous daemon.json back and was restarted with it (engine and swarm state now: worker1: " \
           "active active)" in text
    assert "It was the canary: no other node got the new file" in text and "Fix docker_engine_daemon_options" in text
    after = engines(cluster)
    assert {name: state for name, state in after.items() if name != "worker1"} == \
           {name: state for name, state in before.items() if name != "worker1"}, "only the canary was touched"
    assert after["worker1"][1] == before["worker1"][1], "the canary has its previous daemon.json, byte for byte"
    assert after["worker1"][0] != before["worker1"][0], "the canary's engine was restarted"
    assert watch.asked > 5 and watch.refusals == [], watch.refusals
    assert sorted(managers(cluster).values()) == ["Leader", "Reachable", "Reachable"]
    assert all(n["Status"] == "Ready" for n in nodes(cluster).values())
    cluster.wait(lambda: web_answers(cluster) == {"swarmforge web v1"}, "the application answers", timeout=120)
    # The inventory's options again: every host already has them.
    again = run_ok(cluster, "site.yml", "--tags", "docker_engine")
    assert changed_hosts(again) == {}, changed_hosts(again)


def test_8d_an_engine_killed_while_it_restarts_is_waited_for(cluster, tmp_path_factory) -> None:
    """worker2 alone takes a new engine label; its new engine is killed as soon as it starts. systemd starts it
    again and the run waits for it (it is not rolled back: the file was not the fault)."""
    labelled = daemon_options_file(cluster, tmp_path_factory.mktemp("engine"), "label-worker2",
                                   "test_base_daemon_options | combine({'labels': ['swarmforge.test=killed']}) "
                                   "if inventory_hostname == 'worker2' else test_base_daemon_options")
    before = engines(cluster)
    container = f"{cluster.name}-worker2"
    killed: list[str] = []

    def kill_the_new_engine() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            pid = subprocess.run(["docker", "exec", container, "systemctl", "show", "-p", "MainPID", "--value",
                                  "docker"], capture_output=True, text=True, check=False).stdout.strip()
            if pid not in ("", "0", before["worker2"][0]):
                subprocess.run(["docker", "exec", container, "kill", "-9", pid], check=True)
                killed.append(pid)
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_the_new_engine, daemon=True)
    killer.start()
    with QuorumWatch(cluster) as watch:
        output = run_ok(cluster, "site.yml", "--tags", "docker_engine", "-e", f"@{labelled}")
    killer.join(timeout=10)
    assert killed, "the new engine was not seen starting"
    journal = cluster.host("worker2").check_output("journalctl -u docker --since -10min -o cat")
    assert "docker.service: Main process exited, code=killed, status=9/KILL" in journal
    assert changed_hosts(output).keys() == {"worker2"}
    assert cluster.host("worker2").check_output("docker info --format '{{.Labels}}'") == "[swarmforge.test=killed]"
    after = engines(cluster)
    assert {name: state for name, state in after.items() if name != "worker2"} == \
           {name: state for name, state in before.items() if name != "worker2"}
    assert watch.refusals == [] and nodes(cluster)["worker2"]["Status"] == "Ready"
    back = run_ok(cluster, "site.yml", "--tags", "docker_engine")  # the inventory's options again
    assert changed_hosts(back).keys() == {"worker2"} and engines(cluster)["worker2"][1] == before["worker2"][1]
    again = run_ok(cluster, "site.yml", "--tags", "docker_engine")
    assert changed_hosts(again) == {}, changed_hosts(again)
    cluster.wait(lambda: web_answers(cluster) == {"swarmforge web v1"}, "the application answers", timeout=120)


def test_9_status_report(cluster) -> None:
    output = run_ok(cluster, "status.yml")
    assert f"cluster {cluster.name} (" in output and "3 managers (3 reachable, quorum 2)" in output
    markdown = (REPO / "status" / f"{cluster.name}-status.md").read_text(encoding="utf-8")
    page = (REPO / "status" / f"{cluster.name}-status.html").read_text(encoding="utf-8")
    for node in cluster.spec.nodes:
        if node.role != "storage":
            assert f"| {node.name} |" in markdown and f"<td>{node.name}</td>" in page
    assert "| web_web | replicated | 3 / 3 |" in markdown and "<link" not in page and "<script" not in page


def test_9b_a_node_that_does_not_answer(cluster) -> None:
    """Playbooks that only read or act through one manager go on without a host that does not answer over SSH, and
    name it; those that need every host stop before changing anything. worker2 refuses SSH (a reset, so that
    persistent connections end at once too); its engine stays in the swarm."""
    container = f"{cluster.name}-worker2"
    rule = ["INPUT", "-p", "tcp", "--dport", "22", "-j", "REJECT", "--reject-with", "tcp-reset"]
    subprocess.run(["docker", "exec", container, "iptables", "-I", *rule], check=True)
    try:
        for playbook in ("status.yml", "stacks.yml"):
            output = run_ok(cluster, playbook)
            assert ("WARNING: worker2 did not answer over SSH. This playbook can work without them and goes on with "
                    "the others") in " ".join(output.split()), output[-6000:]
            if playbook == "stacks.yml":  # status.yml writes its report: a change on the controller every time
                assert changed_hosts(output) == {}, changed_hosts(output)
        refused = lab_playbook(cluster.name, "site.yml")
        assert refused.returncode != 0
        assert ("worker2 did not answer over SSH: nothing was changed. Bring them back, or leave them out with "
                "--limit '!worker2'") in " ".join(refused.stdout.split()), refused.stdout[-6000:]
        assert changed_hosts(refused.stdout) == {}
    finally:
        subprocess.run(["docker", "exec", container, "iptables", "-D", *rule], check=True)
    assert nodes(cluster)["worker2"]["Status"] == "Ready"


def test_9c_the_whole_cluster_restarted_at_once(cluster) -> None:
    """Every host restarted together (a power cut): site.yml right after finds nodes `pending` until their managers
    elected a leader, waits for them, and changes nothing (it used to take them for nodes of an unknown swarm)."""
    containers = [f"{cluster.name}-{node.name}" for node in cluster.spec.nodes]
    subprocess.run(["docker", "restart", "--time", "5", *containers], check=True, capture_output=True)
    for container in containers:  # SSH answers again: the run must not stop at preflight's reachability check
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "exec", container, "systemctl", "is-active", "--quiet", "ssh"],
                             check=False).returncode != 0:
            assert time.monotonic() < deadline, f"{container}: ssh did not start"
            time.sleep(0.5)
    output = run_ok(cluster, "site.yml", "--tags", "swarm")
    assert changed_hosts(output) == {}, changed_hosts(output)
    cluster.wait(lambda: all(n["Status"] == "Ready" for n in nodes(cluster).values()), "every node Ready", timeout=120)
    assert sorted(managers(cluster).values()) == ["Leader", "Reachable", "Reachable"]


def test_10_lose_quorum_and_recover(cluster) -> None:
    # Two of three managers are lost for good (engine stopped, swarm state gone): merely restarting them would not do.
    for name in ("manager2", "manager3"):
        lost = cluster.host(name).run("systemctl stop docker.socket docker.service && rm -rf /var/lib/docker/swarm")
        assert lost.rc == 0, lost.stderr
    cluster.wait(lambda: cluster.host("manager1").run("docker node ls").rc != 0, "manager1 loses quorum",
                 timeout=120)
    output = run_ok(cluster, "recover.yml")
    assert "Quorum is lost. manager1 becomes a single-manager cluster" in " ".join(output.split())
    cluster.wait(lambda: sorted(managers(cluster).values()) == ["Leader", "Reachable", "Reachable"],
                 "three managers again", timeout=120)
    assert managers(cluster)["manager1"] == "Leader"
    listed = nodes(cluster)
    entries = [(n["Hostname"], n["ID"], n["Status"], n["ManagerStatus"]) for n in cluster.nodes()]
    assert len(entries) == 5, f"the old entries of the recovered managers are gone: {entries}"
    assert all(n["Status"] == "Ready" for n in listed.values())
    cluster.wait(lambda: web_answers(cluster) == {"swarmforge web v1"}, "the application answers", timeout=120)
    again = run_ok(cluster, "recover.yml")
    assert "nothing to recover" in again and changed_hosts(again) == {}


def test_11_reset_takes_the_swarm_down_and_keeps_ssh(cluster) -> None:
    refused = lab_playbook(cluster.name, "reset.yml", "-e", "swarm_reset_confirm=wrong")
    assert refused.returncode != 0 and "Not confirmed: nothing was changed" in refused.stdout
    assert nodes(cluster)["manager1"]["Status"] == "Ready"
    run_ok(cluster, "reset.yml", "-e", f"swarm_reset_confirm={cluster.name}")
    again = run_ok(cluster, "reset.yml", "-e", f"swarm_reset_confirm={cluster.name}")
    assert changed_hosts(again) == {}, "a swarm already taken down has nothing left to reset"
    for node in cluster.spec.nodes:
        host = cluster.host(node.name)
        assert host.run("echo ok").stdout.strip() == "ok", f"SSH still answers on {node.name}"
        if node.role != "storage":
            state = host.run("docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip()
            assert state == "inactive", f"{node.name} is still {state}"
            assert host.run("nft list table inet swarmforge").rc == 0, "the firewall rules stay"


def test_12_manager_hosts_in_two_swarms_are_split_brain_and_nothing_is_changed(cluster) -> None:
    """After the reset: manager1 starts a swarm of its own, and manager3 joins, as a worker, another that worker1
    starts. The only manager host that says it is in that second swarm is manager3, a worker there, whose engine does
    not report the ClusterID: its node certificate does. site.yml stops before it changes anything."""
    address = {node.name: node.address for node in cluster.spec.nodes}
    first, second, third = (cluster.host(name) for name in ("manager1", "worker1", "manager3"))
    try:
        assert first.run(f"docker swarm init --advertise-addr {address['manager1']}").rc == 0
        assert second.run(f"docker swarm init --advertise-addr {address['worker1']}").rc == 0
        token = second.check_output("docker swarm join-token -q worker")
        joined = third.run(f"docker swarm join --advertise-addr {address['manager3']} --token {token} "
                           f"{address['worker1']}:2377")
        assert joined.rc == 0, joined.stderr
        ids = {name: cluster.host(name).check_output("docker info --format '{{.Swarm.NodeID}}'")
               for name in ("manager1", "worker1", "manager3")}
        a_cluster = first.check_output("docker info --format '{{.Swarm.Cluster.ID}}'")
        b_cluster = second.check_output("docker info --format '{{.Swarm.Cluster.ID}}'")
        assert a_cluster != b_cluster
        refused = lab_playbook(cluster.name, "site.yml", "--tags", "swarm", *AUTOLOCK["args"])
        assert refused.returncode != 0
        assert "Split brain: the manager hosts belong to 2 different swarms" in refused.stdout, refused.stdout[-3000:]
        assert f"manager1 is in ClusterID {a_cluster}" in refused.stdout
        assert f"manager3 is in ClusterID {b_cluster}" in refused.stdout
        assert changed_hosts(refused.stdout) == {}, "nothing may change before the split brain is resolved"
        assert cluster.host("manager2").check_output("docker info --format '{{.Swarm.LocalNodeState}}'") == "inactive"
        assert {name: cluster.host(name).check_output("docker info --format '{{.Swarm.NodeID}}'")
                for name in ids} == ids, "every engine stays in the swarm it was in"
    finally:
        for name in ("manager3", "worker1", "manager1"):
            cluster.host(name).run("docker swarm leave --force")
