from __future__ import annotations

import pytest
from ansible_collections.swarmforge.swarm.plugins.modules.swarm_node import wanted_labels


@pytest.mark.parametrize(("live", "labels", "state", "remove", "expected"), [
    ({"a": "1"}, {"b": 2}, "merge", None, {"a": "1", "b": "2"}),
    ({"a": "1"}, {"a": "9"}, "merge", None, {"a": "9"}),
    ({"a": "1", "b": "2"}, {"c": "3"}, "replace", None, {"c": "3"}),
    ({"a": "1", "b": "2"}, None, "replace", None, {"a": "1", "b": "2"}),
    ({"a": "1", "b": "2"}, None, "merge", ["a", "zz"], {"b": "2"}),
    ({"a": "1"}, {"b": True}, "merge", ["a"], {"b": "True"}),
    ({}, {}, "replace", None, {}),
])
def test_wanted_labels(live: dict, labels: dict | None, state: str, remove: list | None, expected: dict) -> None:
    assert wanted_labels(live, labels, state, remove) == expected


def test_wanted_labels_does_not_modify_the_live_labels() -> None:
    live = {"a": "1"}
    wanted_labels(live, {"b": "2"}, "merge", ["a"])
    assert live == {"a": "1"}
