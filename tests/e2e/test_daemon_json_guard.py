"""A bad daemon.json never reaches the daemon: the run fails on the node's check and the engine keeps running."""

from __future__ import annotations

import json

from helpers import lab_playbook, recap


def engine_state(host) -> tuple[str, str]:
    return (host.file("/etc/docker/daemon.json").content_string,
            host.run("systemctl show docker --property=ExecMainStartTimestamp --value").stdout.strip())


def test_unknown_option_is_refused_and_the_engine_is_untouched(cluster) -> None:
    host = cluster.host("worker2")
    before = engine_state(host)
    options = json.loads(before[0])
    options["no-such-option"] = True
    # Preflight knows the daemon.json keys: the run stops before any host changes, naming the key.
    result = lab_playbook(cluster.name, "site.yml", "--tags", "docker_engine", "--limit", "worker2",
                          "-e", json.dumps({"docker_engine_daemon_options": options}))
    assert result.returncode != 0
    assert ("docker_engine_daemon_options for worker2: 'no-such-option' is not a daemon.json option"
            in " ".join(result.stdout.split())), result.stdout
    assert all(counts["changed"] == 0 for counts in recap(result.stdout).values()), result.stdout
    assert engine_state(host) == before, "daemon.json and the running engine must be untouched"
    # A key declared as a newer engine's passes preflight; the node's own check (dockerd's flags) still refuses it.
    result = lab_playbook(cluster.name, "site.yml", "--tags", "docker_engine", "--limit", "worker2",
                          "-e", json.dumps({"docker_engine_daemon_options": options,
                                            "docker_engine_daemon_extra_keys": ["no-such-option"]}))
    assert result.returncode != 0
    # Docker 26 (Debian 13) validates the file itself (`dockerd --validate`); Docker 20.10 has no such flag and the
    # check compares the keys with dockerd's flags.
    assert ("daemon.json rejected: unknown daemon option(s) ['no-such-option']" in result.stdout
            or "daemon.json rejected: the following directives don't match any configuration option: no-such-option"
            in " ".join(result.stdout.split())), result.stdout[-4000:]
    assert engine_state(host) == before, "daemon.json and the running engine must be untouched"
    assert host.service("docker").is_running


def test_tcp_api_without_tls_is_refused(cluster) -> None:
    host = cluster.host("worker2")
    before = engine_state(host)
    options = dict(json.loads(before[0]), hosts=["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"])
    result = lab_playbook(cluster.name, "site.yml", "--tags", "docker_engine", "--limit", "worker2",
                          "-e", json.dumps({"docker_engine_daemon_options": options}))
    assert result.returncode != 0
    assert "would expose the Docker API on TCP without TLS verification" in result.stdout
    assert engine_state(host) == before
