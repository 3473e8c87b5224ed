"""The lab's application secrets, as Ansible Vault-encrypted inventory variables.

Each lab gets its own vault password (`.lab/<name>/vault-password`) and random passwords for the stacks it deploys,
written once, encrypted, into `secrets.yml` beside the lab's hosts.yml: the same values on every `up`, so reruns
change nothing, and no plain text on disk but the vault password itself. Playbooks on the lab need
`--vault-password-file .lab/<name>/vault-password` (`make lab` and the tests pass it).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import yaml

from lab.spec import LabSpec

# Secret variables the lab's stacks and its registry's login use (inventories/lab/group_vars), as lab_secrets.<name>.
NAMES = ("db_root_password", "db_password", "registry_password")
HEADER = """\
# Generated once by `python -m lab up` for the lab {name!r}: vault-encrypted stack passwords. Do not edit;
# `make lab-down` removes it. Decrypt with --vault-password-file {password_file}.
"""


def vault_password_file(spec: LabSpec) -> Path:
    return spec.state_dir / "vault-password"


def secrets_file(spec: LabSpec) -> Path:
    return spec.inventory_path.parent / "secrets.yml"


def _vault(password: bytes):
    # Imported here: only `up` needs Ansible's vault code, and it comes with the venv's ansible-core.
    from ansible.constants import DEFAULT_VAULT_ID_MATCH  # noqa: PLC0415 - only `up` needs the vault code
    from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: PLC0415 - only `up` needs the vault code

    return VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(password))])


def _existing(path: Path) -> dict[str, str]:
    """The secrets a lab already has: name -> its vault-encrypted text, as written."""
    if not path.is_file():
        return {}

    class VaultTolerantLoader(yaml.SafeLoader):
        pass

    VaultTolerantLoader.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=VaultTolerantLoader) or {}
    return dict(((document.get("all") or {}).get("vars") or {}).get("lab_secrets") or {})


def ensure_secrets(spec: LabSpec) -> Path:
    """Write the vault password and the encrypted secrets unless both exist with every name. A lab made before a
    name was added keeps the values it has (its database was initialised with them) and gets only the new ones."""
    password_file = vault_password_file(spec)
    target = secrets_file(spec)
    existing = _existing(target) if password_file.is_file() else {}
    if password_file.is_file() and set(existing) >= set(NAMES):
        return target
    password_file.parent.mkdir(parents=True, exist_ok=True)
    if not password_file.is_file():
        password_file.touch(mode=0o600)
        password_file.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
    vault = _vault(password_file.read_text(encoding="utf-8").strip().encode())
    lines = [HEADER.format(name=spec.name, password_file=password_file), "---", "all:", "  vars:", "    lab_secrets:"]
    for name in NAMES:
        encrypted = existing.get(name) or vault.encrypt(secrets.token_urlsafe(24)).decode()
        lines.append(f"      {name}: !vault |")
        lines += [f"        {line}" for line in encrypted.strip().splitlines()]
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.chmod(temporary, 0o600)
    temporary.replace(target)
    return target


def secret_values(spec: LabSpec) -> dict[str, str]:
    """The lab's stack secrets in plain text, for tests that assert no output ever shows them."""
    vault_loader = type("VaultLoader", (yaml.SafeLoader,), {})
    vault_loader.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))
    document = yaml.load(secrets_file(spec).read_text(encoding="utf-8"), Loader=vault_loader) or {}
    vault = _vault(vault_password_file(spec).read_text(encoding="utf-8").strip().encode())
    return {name: vault.decrypt(text).decode() for name, text in document["all"]["vars"]["lab_secrets"].items()}
