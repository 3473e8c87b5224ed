"""node_state reads files, blocks, lines, directories and paths on this machine: each kind of difference is found,
and a state that matches is converged."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmforge_modules.node_state import ARGUMENT_SPEC, differences, sysctl_file_values


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
