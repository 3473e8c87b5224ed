from __future__ import annotations

import pytest
from ansible_collections.swarmforge.swarm.plugins.modules import swarm_network
from ansible_collections.swarmforge.swarm.plugins.modules.swarm_network import NetworkManager, asked_view, create_payload, differences, live_view

LIVE = {"Id": "n1", "Driver": "overlay", "Attachable": True, "Internal": False,
        "IPAM": {"Config": [{"Subnet": "10.201.0.0/24", "Gateway": "10.201.0.1"}]},
        "Options": {"com.docker.network.driver.overlay.vxlanid_list": "4097", "encrypted": ""},
        "Labels": {"team": "web"}}


def params(**given) -> dict:
    base = dict.fromkeys(("subnet", "gateway", "ip_range", "attachable", "internal", "encrypted", "driver_options",
                          "labels"))
    base["driver"] = "overlay"
    base.update(given)
    return base


def test_live_view_hides_what_docker_chose_and_reads_encryption() -> None:
    view = live_view(LIVE)
    assert view["encrypted"] is True and view["driver_options"] == {}
    assert view["subnet"] == "10.201.0.0/24" and view["gateway"] == "10.201.0.1" and view["ip_range"] is None


@pytest.mark.parametrize(("given", "expected"), [
    ({}, []),
    ({"subnet": "10.201.0.0/24", "attachable": True, "encrypted": True}, []),
    ({"subnet": "10.202.0.0/24"}, [{"field": "subnet", "live": "10.201.0.0/24", "asked": "10.202.0.0/24"}]),
    ({"encrypted": False}, [{"field": "encrypted", "live": True, "asked": False}]),
    ({"labels": {"team": "web"}}, []),
    ({"labels": {"team": "db", "extra": 1}},
     [{"field": "labels", "live": {"team": "web", "extra": None}, "asked": {"team": "db", "extra": "1"}}]),
    ({"driver_options": {"com.docker.network.driver.mtu": 1400}},
     [{"field": "driver_options", "live": {"com.docker.network.driver.mtu": None},
       "asked": {"com.docker.network.driver.mtu": "1400"}}]),
])
def test_only_asked_fields_are_compared(given: dict, expected: list) -> None:
    assert differences(live_view(LIVE), asked_view(params(**given))) == expected


def test_create_payload() -> None:
    payload = create_payload("web", params(subnet="10.9.0.0/24", gateway="10.9.0.1", attachable=True, encrypted=True,
                                           labels={"a": 1}))
    assert payload == {"Name": "web", "Driver": "overlay", "CheckDuplicate": True, "Scope": "swarm",
                       "Attachable": True, "Internal": False, "Options": {"encrypted": ""}, "Labels": {"a": "1"},
                       "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]}}
    assert "IPAM" not in create_payload("web", params())


class FakeEngine:
    """Answers network ls and inspect as a manager does right after a create: Driver "" until swarm's allocator ran."""

    def __init__(self, unallocated_reads: int) -> None:
        self.params = params(name="web", state="present", recreate="never")
        self.check_mode = False
        self.unallocated_reads = unallocated_reads
        self.inspects = 0

    def require_manager(self, module: str) -> None:
        pass

    def call(self, method: str, path: str, **_: object) -> object:
        if path == "/networks":
            return [{"Name": "web-other", "Id": "n0"}, {"Name": "web", "Id": "n1"}]
        assert path == "/networks/n1"
        self.inspects += 1
        if self.inspects <= self.unallocated_reads:
            return {"Id": "n1", "Driver": "", "IPAM": {"Config": None}}
        return LIVE


def test_find_waits_for_swarm_to_allocate_a_new_network() -> None:
    engine = FakeEngine(unallocated_reads=2)
    assert NetworkManager(engine).current == LIVE and engine.inspects == 3


def test_find_gives_up_waiting_and_returns_what_it_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(swarm_network, "ALLOCATION_WAIT", 1)
    engine = FakeEngine(unallocated_reads=100)
    assert NetworkManager(engine).current["Driver"] == "" and 2 <= engine.inspects <= 4
