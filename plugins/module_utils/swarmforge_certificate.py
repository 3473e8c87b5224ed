# Copyright: swarmforge contributors
# Apache License 2.0
"""A swarm node certificate's subject (O = the ClusterID, OU = swarm-manager or swarm-worker, CN = the NodeID), read
with nothing but the standard library: used on the nodes by the modules' client and on the controller by the filter
swarm_state (a worker's engine does not report its ClusterID; its certificate says it)."""

from __future__ import annotations

import base64

# The subject attributes certificate_subject reads, by their DER-encoded object identifiers (2.5.4.x).
SUBJECT_OIDS = {b"\x55\x04\x03": "CN", b"\x55\x04\x0a": "O", b"\x55\x04\x0b": "OU"}


def _der_items(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, content) items that follow each other in DER bytes; ValueError when they do not parse."""
    items, offset = [], 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise ValueError("truncated DER item")
        tag, length = data[offset], data[offset + 1]
        offset += 2
        if length & 0x80:
            count = length & 0x7F
            if not 0 < count <= 4 or offset + count > len(data):
                raise ValueError("bad DER length")
            length = int.from_bytes(data[offset:offset + count], "big")
            offset += count
        if offset + length > len(data):
            raise ValueError("truncated DER item")
        items.append((tag, data[offset:offset + length]))
        offset += length
    return items


def certificate_subject(pem: str) -> dict[str, str]:
    """CN, O and OU of the subject of the first certificate in PEM text (a node's certificate comes before its
    chain), read from its DER encoding with nothing but the standard library (no ssl internals, no cryptography
    package on the node). ValueError when it is not a certificate."""
    lines = [line.strip() for line in pem.strip().splitlines()]
    if not lines or lines[0] != "-----BEGIN CERTIFICATE-----" or "-----END CERTIFICATE-----" not in lines:
        raise ValueError("not a PEM certificate")
    body = "".join(lines[1:lines.index("-----END CERTIFICATE-----")])
    certificate = _der_items(base64.b64decode(body))
    if len(certificate) != 1 or certificate[0][0] != 0x30:
        raise ValueError("not a DER certificate")
    tbs = _der_items(certificate[0][1])
    if not tbs or tbs[0][0] != 0x30:
        raise ValueError("no TBSCertificate")
    fields = _der_items(tbs[0][1])
    if fields and fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject
    if len(fields) < 5 or fields[4][0] != 0x30:
        raise ValueError("no subject")
    subject = {}
    for tag, rdn in _der_items(fields[4][1]):
        if tag != 0x31:
            continue
        for _tag, attribute in _der_items(rdn):
            parts = _der_items(attribute)
            if len(parts) == 2 and parts[0][0] == 0x06 and parts[0][1] in SUBJECT_OIDS:
                subject[SUBJECT_OIDS[parts[0][1]]] = parts[1][1].decode("utf-8", "replace")
    return subject
