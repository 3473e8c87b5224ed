"""Ansible templates a task's delegate_to even where the task's `when` is false. An expression that picks "the first"
or "another" manager must therefore give a host for every inventory, a one-manager cluster included: a `first`, or an
index into a group, is followed by a default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PICKS = re.compile(r"\|\s*(first|last)\b|\[\s*(-\d+|[1-9]\d*)\s*\]")


def tasks_with_delegate_to() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted([*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("roles/*/handlers/*.yml"),
                        *REPO.glob("playbooks/*.yml")]):
        stack = list(yaml.safe_load(path.read_text(encoding="utf-8")) or [])
        while stack:
            item = stack.pop()
            if not isinstance(item, dict):
                continue
            for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers"):
                stack.extend(item.get(key) or [])
            if "delegate_to" in item:
                found.append((str(path.relative_to(REPO)), item.get("name", "?"), str(item["delegate_to"])))
    return found


def unguarded(expression: str) -> bool:
    """A pick with nothing after it to fall back on when the sequence is empty."""
    return any("default(" not in expression[match.end():] for match in PICKS.finditer(expression))


@pytest.mark.parametrize(("expression", "expected"), [
    ("{{ groups['swarm_managers'] | difference([inventory_hostname]) | first }}", True),
    ("{{ groups['swarm_managers'] | difference([inventory_hostname]) | first | default(__swarm_bootstrap) }}", False),
    ("{{ __swarm_bootstrap | default(groups['swarm_managers'][0]) }}", False),
    ("{{ groups['swarm_managers'][0] }}", False),  # the preflight requires at least one manager
    ("{{ groups['swarm_managers'][1] }}", True),
    ("{{ groups['swarm_managers'] | reject('equalto', inventory_hostname) | last }}", True),
    ("{{ item }}", False),
])
def test_the_rule(expression: str, expected: bool) -> None:
    assert unguarded(expression) is expected


def test_every_delegate_to_gives_a_host_with_a_single_manager() -> None:
    tasks = tasks_with_delegate_to()
    assert tasks, "the roles delegate to managers: the scan must find those tasks"
    offenders = [f"{path}: {name}: {expression}" for path, name, expression in tasks if unguarded(expression)]
    assert offenders == []
