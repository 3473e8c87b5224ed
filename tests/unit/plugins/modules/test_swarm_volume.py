from __future__ import annotations

import pytest
from ansible_collections.swarmforge.swarm.plugins.modules.swarm_volume import asked_view, differences, live_view, nfs_options

NFS = {"server": "172.28.88.31", "path": "/srv/nfs/html", "version": "4", "options": ["rw", "nolock"]}


def test_nfs_options() -> None:
    assert nfs_options(NFS) == {"type": "nfs", "o": "addr=172.28.88.31,nfsvers=4,rw,nolock",
                                "device": ":/srv/nfs/html"}


def params(**given) -> dict:
    base = {"driver": "local", "driver_options": None, "nfs": None, "labels": None}
    base.update(given)
    return base


LIVE = live_view({"Driver": "local", "Options": nfs_options(NFS), "Labels": {"app": "web"}})


@pytest.mark.parametrize(("given", "expected"), [
    ({"nfs": NFS}, []),
    ({}, []),
    ({"nfs": dict(NFS, server="172.28.88.32")},
     [{"field": "options", "live": {"o": "addr=172.28.88.31,nfsvers=4,rw,nolock"},
       "asked": {"o": "addr=172.28.88.32,nfsvers=4,rw,nolock"}}]),
    ({"driver_options": {"type": "nfs"}},
     [{"field": "options", "live": {"device": ":/srv/nfs/html", "o": "addr=172.28.88.31,nfsvers=4,rw,nolock"},
       "asked": {"device": None, "o": None}}]),
    ({"labels": {"app": "web"}}, []),
    ({"labels": {"app": "db"}}, [{"field": "labels", "live": {"app": "web"}, "asked": {"app": "db"}}]),
    ({"driver": "other"}, [{"field": "driver", "live": "local", "asked": "other"}]),
])
def test_option_drift_is_found(given: dict, expected: list) -> None:
    assert differences(LIVE, asked_view(params(**given))) == expected
