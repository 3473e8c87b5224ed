from __future__ import annotations

import hashlib

from ansible_collections.swarmforge.swarm.plugins.module_utils.swarmforge_versioned import content_hash, repoint, services_using, version_of


def service(name: str, *secret_ids: str) -> dict:
    return {"ID": name, "Spec": {"Name": name, "TaskTemplate": {"ContainerSpec": {"Secrets": [
        {"SecretID": sid, "SecretName": f"db_{sid}", "File": {"Name": "db_password", "UID": "0", "GID": "0",
                                                               "Mode": 0o400}} for sid in secret_ids]}}}}


def test_version_of_reads_the_label() -> None:
    assert version_of({"Spec": {"Labels": {"io.swarmforge.version": "7"}}}) == 7
    assert version_of({"Spec": {}}) == 0
    assert version_of({"Spec": {"Labels": {"io.swarmforge.version": "x"}}}) == 0


def test_content_hash() -> None:
    assert content_hash(b"s3cret") == hashlib.sha256(b"s3cret").hexdigest() != content_hash(b"other")


def test_services_using_finds_by_id() -> None:
    services = [service("a", "s1"), service("b", "s2"), service("c")]
    assert [s["ID"] for s in services_using(services, "Secrets", {"s1", "s9"})] == ["a"]
    assert services_using(services, "Secrets", set()) == []


def test_repoint_keeps_target_and_mode_and_does_not_touch_the_input() -> None:
    original = service("a", "s1", "other")
    spec = repoint(original["Spec"], "Secrets", {"s1"}, "s2", "db_v2")
    refs = spec["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert refs[0] == {"SecretID": "s2", "SecretName": "db_v2",
                       "File": {"Name": "db_password", "UID": "0", "GID": "0", "Mode": 0o400}}
    assert refs[1]["SecretID"] == "other"
    assert original["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretID"] == "s1"


def test_repoint_merges_two_old_versions_at_the_same_target() -> None:
    spec = repoint(service("a", "s1", "s1")["Spec"], "Secrets", {"s1"}, "s2", "db_v2")
    assert len(spec["TaskTemplate"]["ContainerSpec"]["Secrets"]) == 1
