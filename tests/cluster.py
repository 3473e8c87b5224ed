"""A lab converged by site.yml, as the tests see it: its nodes, its inventory, testinfra hosts, the first converge's
output and, once a test made one, a rerun's."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import testinfra
from helpers import REPO, Outside, lab_env, lab_inventory, lab_state, run_module

from lab.spec import LAB_USER, LabSpec


@dataclass
class Cluster:
    name: str
    spec: LabSpec
    inventory: Path
    first_converge: str = field(repr=False)
    # The output of a rerun of site.yml that changed nothing, once a test made one (test_site.py): the lifecycle's
    # first step reads it instead of running its own when both run in one session.
    noop_rerun: str | None = field(default=None, repr=False)
    # Where the converge ran from when it was the installed collection's (helpers.Outside): a user's directory.
    outside: Outside | None = None

    def host(self, node: str):
        address, port = self.spec.ssh_endpoint(next(n for n in self.spec.nodes if n.name == node))
        # As the lab's sudoer, every command through sudo (root does not log in).
        return testinfra.get_host(f"paramiko://{LAB_USER}@{address}:{port}", ssh_identity_file=str(self.spec.key_path),
                                  sudo=True)

    def docker_json(self, node: str, command: str) -> list | dict:
        result = self.host(node).run(command)
        assert result.rc == 0, result.stderr
        try:
            return json.loads(result.stdout)
        except ValueError:  # --format '{{json .}}' prints one object a line
            return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def refresh(self) -> None:
        """Read the lab's nodes again after `lab up` changed them."""
        self.spec = LabSpec(**lab_state(self.name))

    def nodes(self, via: str = "manager1") -> list[dict]:
        return self.docker_json(via, "docker node ls --format '{{json .}}'")

    def module(self, node: str, module: str, args: dict, **kwargs) -> dict:
        return run_module(module, args, host=node, inventory=self.inventory, env=lab_env(self.name), **kwargs)

    def wait(self, condition, what: str, timeout: float = 120, every: float = 2) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting until {what}")


_CONVERGE_FAILURES: dict[str, str] = {}


def converge(name: str, site: Callable[[], subprocess.CompletedProcess[str]]) -> Cluster:
    """Run site.yml (the `site` call) on a lab once for its session fixture. pytest runs a failed session fixture
    again for every test that asks for it: after a failure, fail fast with the first error."""
    if name in _CONVERGE_FAILURES:
        pytest.fail(f"site.yml failed on the lab {name} (see the first error): {_CONVERGE_FAILURES[name]}")
    first = site()
    # Kept for reading afterwards: profile_tasks (ansible.cfg) ends it with the slowest tasks.
    reports = REPO / ".lab" / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / f"{name}-site.log").write_text(first.stdout + first.stderr, encoding="utf-8")
    if first.returncode != 0:
        _CONVERGE_FAILURES[name] = next((line for line in first.stdout.splitlines() if line.startswith("fatal:")),
                                        f"exit {first.returncode}")[:500]
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
    return Cluster(name, LabSpec(**lab_state(name)), lab_inventory(name), first.stdout)
