"""Filters for private registries: the CA files each engine trusts, and the registry's htpasswd file.

registry_ca_files(cas, config_dir, contents): the files /etc/docker/certs.d/<registry>/ca.crt as node_state and
copy take them ({path, content, mode}), from docker_engine_registry_cas and the CA files' contents (read on the
controller, in the same order).

registry_htpasswd(users, current): the htpasswd text for these users ({username, password}), one bcrypt hash a line
(what the distribution registry reads). A user whose line in `current` (the file on the host, '' when none)
still verifies against its password keeps that line, so an unchanged inventory renders the same file and the run
changes nothing; a new user or a changed password gets a new hash with a fresh salt.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

try:
    import bcrypt
except ImportError:  # only registry_htpasswd needs it: the error names the fix when it is called
    bcrypt = None

BCRYPT_ROUNDS = 10


def registry_ca_files(cas, config_dir, contents):
    if len(cas) != len(contents):
        raise AnsibleFilterError(f"registry_ca_files: one content per CA file is needed ({len(cas)} CAs, "
                                 f"{len(contents)} contents)")
    return [{"path": "{}/certs.d/{}/ca.crt".format(config_dir.rstrip("/"), entry["registry"]),
             "content": content if content.endswith("\n") else content + "\n", "mode": "0644"}
            for entry, content in zip(cas, contents, strict=False)]


def _current_hashes(current):
    hashes = {}
    for line in (current or "").splitlines():
        name, separator, value = line.partition(":")
        if separator and name.strip():
            hashes[name.strip()] = value.strip()
    return hashes


def registry_htpasswd(users, current=""):
    if bcrypt is None:
        raise AnsibleFilterError("registry_htpasswd needs the bcrypt Python package on the controller "
                                 "(pip install bcrypt; requirements.txt pins it)")
    hashes = _current_hashes(current)
    lines = []
    for user in users:
        name, password = str(user["username"]), str(user["password"]).encode()
        if ":" in name or not name:
            raise AnsibleFilterError(f"registry_htpasswd: {name!r} is not a user name a registry login accepts "
                                     "(non-empty, no ':')")
        kept = hashes.get(name, "")
        try:
            verified = bool(kept) and bcrypt.checkpw(password, kept.encode())
        except ValueError:  # not a bcrypt hash (another scheme, or damaged): made again
            verified = False
        hashed = kept if verified else bcrypt.hashpw(password, bcrypt.gensalt(BCRYPT_ROUNDS)).decode()
        lines.append(f"{name}:{hashed}")
    return "".join(line + "\n" for line in lines)


class FilterModule:
    def filters(self):
        return {"registry_ca_files": registry_ca_files, "registry_htpasswd": registry_htpasswd}
