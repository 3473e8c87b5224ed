"""The lab's registry serves the images over TLS from the lab CA, to logged-in clients only; every node is logged in;
the web stack converged, spread over nodes, and answers through haproxy."""

from __future__ import annotations

import hashlib
import json
import tarfile
import urllib.request

from lab.secrets import secret_values
from lab.spec import CACHE_ROOT

WEB_V2_ARCHIVE = CACHE_ROOT / "images" / "swarmforge_web_v2.tar"  # what `lab up` saved for the registry role
REGISTRY_USER = "swarmforge"  # inventories/lab/group_vars/all/lab.yml


def registry_address(cluster) -> str:
    storage = next(node for node in cluster.spec.nodes if node.role == "storage")
    return f"{storage.address}:5000"


def registry_curl(cluster, *, login: bool = True) -> str:
    """curl as a client of the registry: the lab CA (as every engine trusts it) and the lab's login."""
    command = f"curl -s --cacert /etc/docker/certs.d/{registry_address(cluster)}/ca.crt"
    if login:
        command += f" -u {REGISTRY_USER}:{secret_values(cluster.spec)['registry_password']}"
    return command


def test_registry_serves_the_lab_images(cluster) -> None:
    manager = cluster.host("manager1")
    catalog = json.loads(manager.run(f"{registry_curl(cluster)} https://{registry_address(cluster)}/v2/_catalog").stdout)
    assert {"swarmforge/web", "swarmforge/haproxy"} <= set(catalog["repositories"])
    tags = json.loads(manager.run(
        f"{registry_curl(cluster)} https://{registry_address(cluster)}/v2/swarmforge/web/tags/list").stdout)
    assert sorted(tags["tags"]) == ["v1", "v2"]
    daemon = json.loads(manager.file("/etc/docker/daemon.json").content_string)
    assert "insecure-registries" not in daemon, "the registry serves TLS: no engine treats it as insecure"
    pulled = cluster.host("worker2").run(f"docker pull -q {registry_address(cluster)}/swarmforge/web:v2")
    assert pulled.rc == 0, pulled.stderr


def test_registry_speaks_tls_from_the_lab_ca_and_refuses_anonymous_clients(cluster) -> None:
    manager, url = cluster.host("manager1"), f"https://{registry_address(cluster)}/v2/"
    status = "-o /dev/null -w '%{http_code}'"
    assert manager.run(f"{registry_curl(cluster)} {status} {url}").stdout == "200"
    assert manager.run(f"{registry_curl(cluster, login=False)} {status} {url}").stdout == "401"
    wrong = f"{registry_curl(cluster, login=False)} -u {REGISTRY_USER}:not-the-password {status} {url}"
    assert manager.run(wrong).stdout == "401"
    assert manager.run(f"curl -s {status} {url}").rc == 60, "the system's own CAs do not vouch for the lab CA"
    plain = manager.run(f"curl -s {status} http://{registry_address(cluster)}/v2/").stdout
    assert plain == "400", "no plain HTTP"


def test_every_node_is_logged_in_and_pulls_with_its_login_only(cluster) -> None:
    registry = registry_address(cluster)
    for node in cluster.spec.nodes:
        if node.role == "storage":
            continue
        host = cluster.host(node.name)
        config = host.file("/root/.docker/config.json")
        assert config.mode == 0o600 and config.user == "root", node.name
        assert set(json.loads(config.content_string)["auths"]) == {registry}, node.name
    worker = cluster.host("worker1")
    image = f"{registry}/swarmforge/haproxy:2.6"
    assert worker.run(f"docker pull -q {image}").rc == 0
    anonymous = worker.run(f"mkdir -p /tmp/no-login && DOCKER_CONFIG=/tmp/no-login docker pull -q {image}")
    assert anonymous.rc != 0 and "no basic auth credentials" in anonymous.stderr, anonymous.stderr


def test_registry_login_checks_with_the_engine_before_writing_and_never_shows_the_password(cluster) -> None:
    registry, password = registry_address(cluster), secret_values(cluster.spec)["registry_password"]
    before = cluster.host("worker2").file("/root/.docker/config.json").content_string
    unchanged = cluster.module("worker2", "registry_login",
                               {"registry": registry, "username": REGISTRY_USER, "password": password})
    assert not unchanged["changed"] and not unchanged["verified"], unchanged
    checked = cluster.module("worker2", "registry_login",
                             {"registry": registry, "username": REGISTRY_USER, "password": "wrong"}, check=True)
    assert checked["changed"] and checked["diff"]["after"] == {"registry": registry, "username": REGISTRY_USER,
                                                               "password": "(a new one)"}, checked
    refused = cluster.module("worker2", "registry_login",
                             {"registry": registry, "username": REGISTRY_USER, "password": "wrong"})
    assert refused.get("failed") and "refused this user name and password" in refused["msg"], refused
    assert "Nothing was written" in refused["msg"] and "wrong" not in refused["msg"]
    assert password not in unchanged["_raw"] + checked["_raw"] + refused["_raw"]
    assert cluster.host("worker2").file("/root/.docker/config.json").content_string == before


def image_id(archive) -> str:
    with tarfile.open(archive) as saved:
        config = json.load(saved.extractfile("manifest.json"))[0]["Config"]
        return "sha256:" + hashlib.sha256(saved.extractfile(config).read()).hexdigest()


def served_config(cluster, tag: str) -> str:
    manifest = cluster.host("manager1").run(
        "curl -s -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "
        f"{registry_curl(cluster)} https://{registry_address(cluster)}/v2/swarmforge/web/manifests/{tag}").stdout
    return json.loads(manifest).get("config", {}).get("digest", "")


def test_registry_seed_pushes_only_a_missing_tag_and_check_mode_shows_it(cluster) -> None:
    """The registry serves the archive's exact image; a tag deleted by hand is seen in check mode, pushed back by a
    run, and a rerun changes nothing."""
    wanted = image_id(WEB_V2_ARCHIVE)
    assert served_config(cluster, "v2") == wanted
    storage = next(node.name for node in cluster.spec.nodes if node.role == "storage")
    server = cluster.host(storage)
    # On the registry host, as the role's seeding reaches it: its address, the lab CA, the login.
    curl = registry_curl(cluster).replace(f"/etc/docker/certs.d/{registry_address(cluster)}/ca.crt",
                                          "/etc/docker/registry/tls/ca.crt")
    base = f"https://{registry_address(cluster)}/v2/swarmforge/web/manifests"
    digest = server.run(f"{curl} -I -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' {base}/v2 | "
                        "sed -n 's/^Docker-Content-Digest: *//Ip' | tr -d '\\r'").stdout.strip()
    assert digest.startswith("sha256:"), digest
    assert server.run(f"{curl} -f -X DELETE {base}/{digest}").rc == 0
    assert served_config(cluster, "v2") == ""
    args = {"images": [{"name": "swarmforge/web", "tag": "v1", "archive": str(WEB_V2_ARCHIVE.with_name(
        "swarmforge_web_v1.tar"))}, {"name": "swarmforge/web", "tag": "v2", "archive": str(WEB_V2_ARCHIVE)}],
        "registry_url": f"https://{registry_address(cluster)}", "ca_path": "/etc/docker/registry/tls/ca.crt",
        "username": REGISTRY_USER, "password": secret_values(cluster.spec)["registry_password"]}
    check = cluster.module(storage, "registry_seed", args, check=True)
    assert check["changed"] and check["pushed"] == ["swarmforge/web:v2"], check
    assert f"swarmforge/web:v2 {wanted}" in check["diff"]["after"]
    assert "swarmforge/web:v2 (not served)" in check["diff"]["before"]
    assert served_config(cluster, "v2") == "", "check mode pushed nothing"
    pushed = cluster.module(storage, "registry_seed", args)
    assert pushed["changed"] and pushed["pushed"] == ["swarmforge/web:v2"], pushed
    assert pushed["blobs_uploaded"] == 0, "the registry kept the blobs: only the manifest is put back"
    assert served_config(cluster, "v2") == wanted
    again = cluster.module(storage, "registry_seed", args)
    assert not again["changed"] and again["pushed"] == [], again


def web_services(cluster) -> dict[str, dict]:
    return {s["Name"]: s for s in cluster.docker_json("manager1", "docker service ls --format '{{json .}}'")
            if s["Name"].startswith("web_")}


def test_web_stack_converged_with_replicas_spread(cluster) -> None:
    services = web_services(cluster)
    assert services["web_web"]["Replicas"] == "3/3" and services["web_lb"]["Replicas"] == "1/1"
    assert services["web_web"]["Image"] == f"{registry_address(cluster)}/swarmforge/web:v1"
    nodes = cluster.host("manager1").run(
        "docker service ps web_web --filter desired-state=running --format '{{.Node}}'").stdout.split()
    assert len(nodes) == 3 and len(set(nodes)) >= 2, f"replicas should spread over nodes: {nodes}"


def test_application_answers_through_its_published_port(cluster) -> None:
    """Host-mode publishing on the node that runs haproxy (this kernel has no IPVS for the routing mesh)."""
    lb_node = cluster.host("manager1").run(
        "docker service ps web_lb --filter desired-state=running --format '{{.Node}}'").stdout.split()[0]
    address = next(node.address for node in cluster.spec.nodes if node.name == lb_node)
    answers = []
    for _ in range(9):
        with urllib.request.urlopen(f"http://{address}:8080/", timeout=5) as response:
            answers.append(response.read().decode().strip())
    assert all(answer.startswith("swarmforge web v1 from ") for answer in answers), answers
    assert len(set(answers)) == 3, f"haproxy should reach all three web tasks: {sorted(set(answers))}"


def test_haproxy_config_is_a_versioned_swarm_config(cluster) -> None:
    configs = cluster.host("manager1").run("docker config ls --format '{{.Name}}'").stdout.split()
    assert "web_haproxy_v1" in configs
