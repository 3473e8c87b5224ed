"""Import the plugins as Ansible does: the repository is the collection swarmforge.swarm, found through
collections/ansible_collections/swarmforge/swarm (a link to the repository's root)."""

import datetime
import importlib
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))

# Every module, so that tests can read each one's documentation and argument spec by name.
for plugin in sorted((REPO / "plugins" / "modules").glob("*.py")):
    importlib.import_module(f"ansible_collections.swarmforge.swarm.plugins.modules.{plugin.stem}")


@pytest.fixture()
def swarm_node_pem():
    """Makes a certificate shaped like a swarm node's (O=cluster id, OU=role, CN=node id), followed by its CA's, as
    /var/lib/docker/swarm/certificates/swarm-node.crt holds them."""

    def make(role: str, cluster_id: str = "l9bch4hrmyepwg1ssnh2bd7ta", node_id: str = "kqv8oqz6kb1ro9y7hy9wkd4xu") -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "swarm-ca")])

        def certificate(subject: x509.Name) -> str:
            built = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(key.public_key())
                     .serial_number(x509.random_serial_number()).not_valid_before(now)
                     .not_valid_after(now + datetime.timedelta(days=90)).sign(key, hashes.SHA256()))
            return built.public_bytes(serialization.Encoding.PEM).decode()

        node = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
                          x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                          x509.NameAttribute(NameOID.COMMON_NAME, node_id)])
        return certificate(node) + certificate(ca_name)

    return make
