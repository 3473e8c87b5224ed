"""The lab's certificate authority and its registry's server certificate.

A real cluster's registry serves TLS with a certificate from the operator's CA; the lab makes its own: a CA and one
server certificate for the node that serves the registry (its name, its lab FQDN and its lab address), written once
into `.lab/<name>/pki/` (keys readable by their owner only). The lab's inventory hands them to the registry role
(certificate and key) and to every engine (the CA, in /etc/docker/certs.d). They are made again only when missing or
when the registry node's names no longer match, so reruns change nothing.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.spec import LabSpec, Node

VALID_DAYS = 3650


def pki_dir(spec: LabSpec) -> Path:
    return spec.state_dir / "pki"


def registry_node(spec: LabSpec) -> Node | None:
    return next((node for node in spec.nodes if "registries" in node.groups), None)


def _names(spec: LabSpec, node: Node) -> list[x509.GeneralName]:
    return [x509.DNSName(node.name), x509.DNSName(f"{node.name}.{spec.domain}"),
            x509.IPAddress(ipaddress.ip_address(node.address))]


def _write(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.touch(mode=mode)
    os.chmod(temporary, mode)
    temporary.write_bytes(data)
    temporary.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _has(certificate: x509.Certificate, extension: type) -> bool:
    try:
        certificate.extensions.get_extension_for_class(extension)
        return True
    except x509.ExtensionNotFound:
        return False


def _issued_by(certificate: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(ca)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _ensure_ca(spec: LabSpec, folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The lab CA; one made without a subject key identifier (which strict verifiers, Python 3.13's among them, need
    to chain its certificates) is made again."""
    cert_path, key_path = folder / "ca.crt", folder / "ca.key"
    if cert_path.is_file() and key_path.is_file():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        current = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if _has(current, x509.SubjectKeyIdentifier):
            return current, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"swarmforge lab {spec.name} CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return certificate, key


def ensure_pki(spec: LabSpec) -> Path | None:
    """The lab CA and the registry node's certificate and key; None when the lab has no registry node."""
    node = registry_node(spec)
    if node is None:
        return None
    folder = pki_dir(spec)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    ca, ca_key = _ensure_ca(spec, folder)
    cert_path, key_path = folder / "registry.crt", folder / "registry.key"
    wanted = set(_names(spec, node))
    if cert_path.is_file() and key_path.is_file():
        current = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = set(current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        if names == wanted and _has(current, x509.AuthorityKeyIdentifier) and _issued_by(current, ca):
            return folder
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node.name}.{spec.domain}")]))
        .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names(spec, node)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                     data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return folder
