"""The registry's htpasswd keeps a user's hash while the password still verifies (reruns change nothing) and makes a
new one when the password changes; the engines' CA files land where dockerd looks for a registry's CA."""

from __future__ import annotations

import bcrypt
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.swarmforge.swarm.plugins.filter.registry import registry_ca_files, registry_htpasswd

USERS = [{"username": "deploy", "password": "s3cret"}, {"username": "ci", "password": "other"}]


def test_new_users_get_bcrypt_hashes_that_verify() -> None:
    text = registry_htpasswd(USERS, "")
    lines = dict(line.split(":", 1) for line in text.splitlines())
    assert list(lines) == ["deploy", "ci"] and text.endswith("\n")
    assert lines["deploy"].startswith("$2b$10$") and bcrypt.checkpw(b"s3cret", lines["deploy"].encode())
    assert bcrypt.checkpw(b"other", lines["ci"].encode())
    assert "s3cret" not in text


def test_an_unchanged_password_keeps_its_line_and_a_changed_one_gets_a_new_hash() -> None:
    first = registry_htpasswd(USERS, "")
    assert registry_htpasswd(USERS, first) == first
    changed = registry_htpasswd([{"username": "deploy", "password": "new"}, USERS[1]], first)
    deploy = changed.splitlines()[0].split(":", 1)[1]
    assert bcrypt.checkpw(b"new", deploy.encode()) and changed.splitlines()[1] == first.splitlines()[1]


def test_a_removed_user_loses_its_line_and_a_foreign_hash_is_replaced() -> None:
    first = registry_htpasswd(USERS, "")
    assert registry_htpasswd(USERS[:1], first) == first.splitlines(keepends=True)[0]
    replaced = registry_htpasswd(USERS[:1], "deploy:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
    assert bcrypt.checkpw(b"s3cret", replaced.split(":", 1)[1].strip().encode())


def test_a_user_name_with_a_colon_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="no ':'"):
        registry_htpasswd([{"username": "a:b", "password": "x"}], "")


def test_ca_files_go_under_certs_d_of_each_registry() -> None:
    files = registry_ca_files([{"registry": "reg.example:5000", "ca_file": "/ca.pem"}], "/etc/docker/", ["PEM"])
    assert files == [{"path": "/etc/docker/certs.d/reg.example:5000/ca.crt", "content": "PEM\n", "mode": "0644"}]
    with pytest.raises(AnsibleFilterError, match="one content per CA file"):
        registry_ca_files([{"registry": "r", "ca_file": "x"}], "/etc/docker", [])
