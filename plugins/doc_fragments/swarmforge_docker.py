# Copyright: swarmforge contributors
# Apache License 2.0


from __future__ import annotations


class ModuleDocFragment:
    """Connection options every swarmforge module shares (plugins/module_utils/swarmforge_docker.py)."""

    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The Docker daemon to talk to. The default is the node's own socket, which is how swarmforge runs.
      - When not given, the C(DOCKER_HOST) environment variable of the module's process is used if set (as the
        docker CLI does).
      - A C(tcp://) address is refused unless TLS is set up (I(tls) or I(ca_path) with I(client_cert)/I(client_key)).
    type: str
    default: unix:///var/run/docker.sock
    aliases: [docker_url]
  timeout:
    description: Seconds to wait for one API call.
    type: int
    default: 60
  tls:
    description: Talk TLS to the daemon.
    type: bool
    default: false
  validate_certs:
    description: Verify the daemon's certificate against I(ca_path).
    type: bool
    default: true
    aliases: [tls_verify]
  ca_path:
    description: CA certificate that signed the daemon's certificate.
    type: path
    aliases: [ca_cert, tls_ca_cert]
  client_cert:
    description: Client certificate for TLS.
    type: path
    aliases: [tls_client_cert, cert_path]
  client_key:
    description: Client key for TLS.
    type: path
    aliases: [tls_client_key, key_path]
requirements:
  - docker (the Docker SDK for Python, 5.0 or newer) on the node
"""
