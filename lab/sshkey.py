"""The lab's SSH key pair, generated once per lab into its state folder."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def ensure_key(private_path: Path, comment: str) -> str:
    """Create the key pair unless it exists; return the public key line."""
    public_path = private_path.with_suffix(".pub")
    if private_path.is_file() and public_path.is_file():
        return public_path.read_text(encoding="utf-8").strip()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    private_path.parent.chmod(0o700)
    key = Ed25519PrivateKey.generate()
    private_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                      serialization.NoEncryption())
    public_line = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                serialization.PublicFormat.OpenSSH).decode() + f" {comment}"
    private_path.touch(mode=0o600)
    private_path.write_bytes(private_bytes)
    public_path.write_text(public_line + "\n", encoding="utf-8")
    return public_line
