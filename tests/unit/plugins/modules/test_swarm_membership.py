from __future__ import annotations

import pytest
from ansible_collections.swarmforge.swarm.plugins.modules.swarm_membership import address_host, parse_duration


@pytest.mark.parametrize(("text", "nanoseconds"), [
    ("90d", 90 * 86400 * 10**9), ("2160h", 2160 * 3600 * 10**9), ("30m", 1800 * 10**9), ("1s", 10**9),
    ("500ms", 500 * 10**6), (" 7d ", 7 * 86400 * 10**9),
])
def test_parse_duration(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize("text", ["90", "90 days", "d", "-1h", "1.5h", ""])
def test_parse_duration_refuses_with_the_fix(text: str) -> None:
    with pytest.raises(ValueError, match="give a number and a unit, e.g. 90d, 2160h or 30m"):
        parse_duration(text)


@pytest.mark.parametrize(("address", "host"), [
    ("172.28.88.11", "172.28.88.11"), ("172.28.88.11:2377", "172.28.88.11"), ("[fd00::1]:2377", "fd00::1"),
    ("fd00::1", "fd00::1"), ("manager1:2377", "manager1"),
])
def test_address_host(address: str, host: str) -> None:
    assert address_host(address) == host
