"""node_state reads files, blocks, lines, directories and paths on this machine: each kind of difference is found,
and a state that matches is converged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ansible_collections.swarmforge.swarm.plugins.modules import node_state
from ansible_collections.swarmforge.swarm.plugins.modules.node_state import ARGUMENT_SPEC, differences, sysctl_file_values


def params(**given) -> dict:
    base = {option: [] for option in ARGUMENT_SPEC}
    base.update(given)
    return base


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "conf").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "conf").chmod(0o644)
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n# BEGIN x\n1.2.3.4 one\n# END x\n", encoding="utf-8")
    (tmp_path / "defaults").write_text('DAEMON_OPTS="-F 0"\nDAEMON_OPTS="-F 1"\n', encoding="utf-8")
    (tmp_path / "dir").mkdir(mode=0o755)
    return tmp_path


def file_spec(path: Path, content: str, mode: str | None = "0644") -> dict:
    return {"path": str(path), "content": content, "mode": mode}


@pytest.mark.parametrize(("kind", "spec", "expected"), [
    ("files", lambda t: file_spec(t / "conf", "a\nb\n"), []),
    ("files", lambda t: file_spec(t / "conf", "a\nb"), ["{t}/conf: content differs"]),
    ("files", lambda t: file_spec(t / "conf", "a\nb\n", "0600"), ["{t}/conf: mode is not 0600"]),
    ("files", lambda t: file_spec(t / "conf", "a\nb\n", None), []),
    ("files", lambda t: file_spec(t / "none", ""), ["{t}/none: missing"]),
    ("blocks", lambda t: {"path": str(t / "hosts"), "block": "# BEGIN x\n1.2.3.4 one\n# END x"}, []),
    ("blocks", lambda t: {"path": str(t / "hosts"), "block": "# BEGIN x\n1.2.3.5 one\n# END x"},
     ["{t}/hosts: the managed block differs"]),
    ("lines", lambda t: {"path": str(t / "defaults"), "regexp": "^DAEMON_OPTS=", "line": 'DAEMON_OPTS="-F 1"'}, []),
    ("lines", lambda t: {"path": str(t / "defaults"), "regexp": "^DAEMON_OPTS=", "line": 'DAEMON_OPTS="-F 0"'},
     ["{t}/defaults: the line matching ^DAEMON_OPTS= is not 'DAEMON_OPTS=\"-F 0\"'"]),
    ("lines", lambda t: {"path": str(t / "defaults"), "regexp": "^OPTIONS=", "line": "OPTIONS=1"},
     ["{t}/defaults: the line matching ^OPTIONS= is not 'OPTIONS=1'"]),
    ("directories", lambda t: {"path": str(t / "dir"), "mode": "0755"}, []),
    ("directories", lambda t: {"path": str(t / "dir"), "mode": 0o755}, []),
    ("directories", lambda t: {"path": str(t / "dir"), "mode": 0o700}, ["{t}/dir: mode is not 0700"]),
    ("directories", lambda t: {"path": str(t / "conf"), "mode": None}, ["{t}/conf: not a directory"]),
    ("absent", lambda t: str(t / "none"), []),
    ("absent", lambda t: str(t / "conf"), ["{t}/conf: exists"]),
])
def test_each_kind_of_difference(tree: Path, kind: str, spec, expected: list[str]) -> None:
    found = differences(params(**{kind: [spec(tree)]}))
    assert found == [line.format(t=tree) for line in expected]


def test_a_package_that_is_not_installed_is_named() -> None:
    assert differences(params(packages=["swarmforge-no-such-package"])) == [
        "package swarmforge-no-such-package is not installed"]


def test_missing_and_unheld_packages_are_returned_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """The roles skip their install and hold steps when both lists are empty (site.yml installs every role's packages
    in host_prep's one transaction), so the lists must name exactly what is missing."""
    monkeypatch.setattr(node_state, "installed_packages", lambda names: {"chrony", "docker.io"})
    monkeypatch.setattr(node_state, "held_packages", lambda: {"docker.io"})
    result: dict = {}
    found = differences(params(packages=["chrony", "nftables", "docker.io"], held=["docker.io", "containerd"]), result)
    assert result["missing_packages"] == ["nftables"] and result["unheld_packages"] == ["containerd"]
    assert found == ["package nftables is not installed", "package containerd is not held"]
    result = {}
    assert differences(params(packages=["chrony"], held=["docker.io"]), result) == []
    assert result["missing_packages"] == [] and result["unheld_packages"] == []


def kernel_spec(tree: Path, **given) -> dict:
    spec = {"modules": [], "modules_file": str(tree / "modules.conf"), "modules_header": "# swarmforge",
            "sysctls": {}, "sysctl_file": str(tree / "sysctl.conf")}
    spec.update(given)
    return spec


def test_modules_this_kernel_lacks_are_reported_and_the_file_lists_none(tree: Path) -> None:
    (tree / "modules.conf").write_text("# swarmforge\n", encoding="utf-8")
    result: dict = {}
    found = differences(params(kernel=kernel_spec(tree, modules=["swarmforge_no_such_module"])), result)
    assert found == [] and result["kernel"]["missing_modules"] == ["swarmforge_no_such_module"]
    (tree / "modules.conf").write_text("# swarmforge\nswarmforge_no_such_module\n", encoding="utf-8")
    assert differences(params(kernel=kernel_spec(tree, modules=["swarmforge_no_such_module"]))) == [
        f"{tree}/modules.conf: does not list exactly no module"]


def test_a_setting_this_kernel_lacks_is_reported_not_a_difference(tree: Path) -> None:
    (tree / "modules.conf").write_text("# swarmforge\n", encoding="utf-8")
    result: dict = {}
    assert differences(params(kernel=kernel_spec(tree, sysctls={"swarmforge.no.such": 1})), result) == []
    assert result["kernel"]["missing_sysctls"] == ["swarmforge.no.such"]


def test_the_sysctl_file_is_read_as_sysctl_reads_it(tree: Path) -> None:
    (tree / "sysctl.conf").write_text("# c\n; c\nnet.a = 1\nnet.b=2 3\nnet.a=0\n", encoding="utf-8")
    assert sysctl_file_values(str(tree / "sysctl.conf")) == {"net.a": "0", "net.b": "2 3"}


def test_a_directory_owner_and_group_are_compared_by_name_or_id(tree: Path) -> None:
    mine = {"path": str(tree / "dir"), "mode": None, "owner": str(os.getuid()), "group": str(os.getgid())}
    assert differences(params(directories=[mine])) == []
    other = dict(mine, owner="swarmforge-no-such-user", group="swarmforge-no-such-group")
    assert differences(params(directories=[other])) == [
        f"{tree}/dir: owner is not swarmforge-no-such-user", f"{tree}/dir: group is not swarmforge-no-such-group"]


def fake_commands(tree: Path, monkeypatch: pytest.MonkeyPatch, **scripts: str) -> None:
    """Put shell scripts named as the commands first on PATH."""
    folder = tree / "bin"
    folder.mkdir(exist_ok=True)
    for name, body in scripts.items():
        (folder / name).write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
        (folder / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize(("tracking", "expected", "report"), [
    ("A9FE7B7B,172.28.88.1,3,1764000000.1,-0.000012,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,Normal",
     [], {"reference": "172.28.88.1", "offset": 0.000012}),
    ("00000000,0.0.0.0,0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,Not synchronised",
     ["the clock follows no time source yet (chronyc tracking)"], {"reference": "", "offset": 0.0}),
    ("A9FE7B7B,172.28.88.1,3,1764000000.1,2.5,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,Normal",
     ["the clock is 2.5s off 172.28.88.1, more than 1.0s"], {"reference": "172.28.88.1", "offset": 2.5}),
    ("", ["the clock follows no time source yet (chronyc tracking)"], {"reference": "", "offset": None}),
])
def test_the_clock_must_follow_a_source_within_the_offset(tree: Path, monkeypatch: pytest.MonkeyPatch, tracking: str,
                                                          expected: list[str], report: dict) -> None:
    fake_commands(tree, monkeypatch, chronyc=f"echo '{tracking}'")
    result: dict = {}
    assert differences(params(clock={"max_offset": 1.0}), result) == expected
    assert result["clock"] == report


@pytest.mark.parametrize(("firewalld", "ufw", "expected"), [
    ("exit 0", "echo 'Status: active'", "firewalld"),
    ("exit 3", "echo 'Status: active'", "ufw"),
    ("exit 3", "echo 'Status: inactive'", "nftables"),
])
def test_the_firewall_that_runs_is_reported_never_a_difference(tree: Path, monkeypatch: pytest.MonkeyPatch,
                                                                firewalld: str, ufw: str, expected: str) -> None:
    fake_commands(tree, monkeypatch, systemctl=firewalld, ufw=ufw)
    result: dict = {}
    assert differences(params(firewall=True), result) == []
    assert result["firewall"] == expected
