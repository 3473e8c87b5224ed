#!/usr/bin/python
# Copyright: swarmforge contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: registry_seed
short_description: Seed a Docker registry with image archives (docker save), pushing only what it does not serve
description:
  - Puts images into a registry through the registry HTTP API v2 (the CNCF distribution registry, Debian's
    C(docker-registry)). Blobs it lacks are uploaded, then the image manifest is put under its tag. No Docker engine is
    needed on the registry host and nothing is loaded into one.
  - An image counts as served when the registry's manifest for I(name):I(tag) names the same image configuration
    digest as the archive (the image ID). Only those that differ are pushed, so a rerun changes nothing.
  - Runs with an action plugin of the same name, which reads each archive on the controller, asks this module on the host
    what the registry serves, then prepares (layers gzip-compressed on the controller, where the CPU is fast) and
    sends only the images to push. All images are handled by one task.
  - Supports check mode (lists what would be pushed) and diff mode (the tags' image IDs before and after).
author: swarmforge contributors (@swarmforge)
options:
  images:
    description:
      - The images. In the task, each names an I(archive) on the controller; the action plugin turns it into
        I(config_digest) and, for the images to push, a prepared I(bundle) on the host.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Repository name in the registry, e.g. C(swarmforge/web).
        type: str
        required: true
      tag:
        description: Tag.
        type: str
        required: true
      archive:
        description: Path on the controller of a C(docker save) archive holding the image (read by the action plugin).
        type: path
      config_digest:
        description: C(sha256:...) digest of the image configuration (set by the action plugin).
        type: str
      bundle:
        description: Path on the host of the prepared blobs and manifest (set by the action plugin).
        type: path
  registry_url:
    description: Base URL of the registry as the host reaches it.
    type: str
    default: http://127.0.0.1:5000
  ca_path:
    description: CA certificate (PEM) on the host that signed the registry's certificate, when the system does not
      trust it.
    type: path
  username:
    description: Login of a registry that requires one (O(password) with it).
    type: str
  password:
    description: Password of O(username), from vault; never logged.
    type: str
  compress_level:
    description: gzip level (1-9) of the layers pushed; 1 is fastest, 9 smallest.
    type: int
    default: 1
  timeout:
    description: Seconds to wait for each registry request.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    details: Lists the images that would be pushed and sends nothing.
    description: Compares and reports what would change, changing nothing.
  diff_mode:
    support: full
    description: Shows what differs, before and after.
  idempotent:
    support: full
    description: Run again with the same arguments, it changes nothing.
notes:
  - With O(username), every request carries that login (Basic authentication, as the distribution registry's
    htpasswd auth takes it).
"""

EXAMPLES = r"""
- name: Seed the registry with the application images
  registry_seed:
    registry_url: http://127.0.0.1:5000
    images:
      - {name: swarmforge/web, tag: v1, archive: /srv/images/web_v1.tar}
      - {name: swarmforge/haproxy, tag: "2.6", archive: /srv/images/haproxy_2.6.tar}
"""

RETURN = r"""
images:
  description: One entry per image.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Repository name.
      type: str
    tag:
      description: Tag.
      type: str
    wanted:
      description: The archive's image configuration digest.
      type: str
    served:
      description: The configuration digest the registry served under the tag before this task (empty if none).
      type: str
    action:
      description: C(none), C(push) (done) or, in check mode, C(push) (would be done).
      type: str
pushed:
  description: C(name:tag) of each image pushed (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
blobs_uploaded:
  description: Number of blobs uploaded (blobs the registry already had are not sent again).
  returned: always
  type: int
"""

import http.client
import json
import os
import tarfile
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urljoin

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import Request

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)
BUNDLE_MANIFEST = "manifest.json"  # in a bundle: the registry manifest to put, next to blobs/<hex>

ARGUMENT_SPEC = {
    "images": {"type": "list", "elements": "dict", "required": True, "options": {
        "name": {"type": "str", "required": True},
        "tag": {"type": "str", "required": True},
        "archive": {"type": "path"},
        "config_digest": {"type": "str"},
        "bundle": {"type": "path"},
    }},
    "registry_url": {"type": "str", "default": "http://127.0.0.1:5000"},
    "ca_path": {"type": "path"},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "compress_level": {"type": "int", "default": 1},
    "timeout": {"type": "int", "default": 120},
}


class RegistryError(Exception):
    pass


class Registry:
    def __init__(self, url, timeout, ca_path=None, username=None, password=None):
        self.url = url.rstrip("/") + "/"
        # A login is sent with every request (the registry's htpasswd auth takes Basic credentials directly).
        self.request = Request(timeout=timeout, validate_certs=True, ca_path=ca_path, url_username=username,
                               url_password=password, force_basic_auth=bool(username))

    def _open(self, method, path, **kwargs):
        url = path if path.startswith("http") else urljoin(self.url, path)
        try:
            return self.request.open(method, url, **kwargs)
        except HTTPError as error:
            if error.code == 404 and method in ("GET", "HEAD"):
                return None
            detail = error.read().decode("utf-8", "replace")[:500] if hasattr(error, "read") else ""
            raise RegistryError(f"{method} {url} answered {error.code}: {detail}") from error
        # The registry does not answer: refused, reset, timed out, no route, or a reply cut short.
        except (URLError, OSError, http.client.HTTPException) as error:
            raise RegistryError(f"{method} {url} failed: {error}. Is the registry running and listening at "
                                f"{self.url}?") from error

    def served_config(self, name, tag):
        """The configuration digest of the manifest the registry serves as name:tag, '' when it serves none."""
        response = self._open("GET", f"v2/{name}/manifests/{tag}",
                              headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if response is None:
            return ""
        try:
            return json.loads(response.read())["config"]["digest"]
        except (ValueError, KeyError, TypeError):
            return ""  # a schema 1 or index manifest: not what an archive holds, so it is replaced

    def has_blob(self, name, digest):
        return self._open("HEAD", f"v2/{name}/blobs/{digest}") is not None

    def upload_blob(self, name, digest, stream, size):
        started = self._open("POST", f"v2/{name}/blobs/uploads/", data=b"")
        location = started.headers.get("Location")
        if not location:
            raise RegistryError(f"the registry started an upload to {name} without a Location")
        location = urljoin(self.url, location)
        location += ("&" if "?" in location else "?") + urlencode({"digest": digest})
        self._open("PUT", location, data=stream,
                   headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})

    def put_manifest(self, name, tag, manifest):
        self._open("PUT", f"v2/{name}/manifests/{tag}", data=manifest,
                   headers={"Content-Type": json.loads(manifest)["mediaType"]})


def push_bundle(registry, name, tag, bundle):
    """Upload a bundle's blobs the registry lacks, then its manifest. Returns the number of blobs sent."""
    uploaded = 0
    with tarfile.open(bundle, mode="r:") as archive:
        manifest = None
        for member in archive:
            if member.name == BUNDLE_MANIFEST:
                manifest = archive.extractfile(member).read()
                continue
            if not member.isfile() or not member.name.startswith("blobs/"):
                continue
            digest = "sha256:" + os.path.basename(member.name)
            if registry.has_blob(name, digest):
                continue
            registry.upload_blob(name, digest, archive.extractfile(member), member.size)
            uploaded += 1
    if manifest is None:
        raise RegistryError(f"the bundle {bundle} has no {BUNDLE_MANIFEST}")
    registry.put_manifest(name, tag, manifest)
    return uploaded


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_together=[("username", "password")])
    registry = Registry(module.params["registry_url"], module.params["timeout"], module.params["ca_path"],
                        module.params["username"], module.params["password"])
    results, pushed, uploaded = [], [], 0
    try:
        for image in module.params["images"]:
            if not image["config_digest"]:
                module.fail_json(msg="image {}:{} has no config_digest: name its archive in the task (the action "
                                     "plugin computes it)".format(image["name"], image["tag"]))
            served = registry.served_config(image["name"], image["tag"])
            entry = {"name": image["name"], "tag": image["tag"], "wanted": image["config_digest"], "served": served,
                     "action": "none" if served == image["config_digest"] else "push"}
            results.append(entry)
            if entry["action"] == "none":
                continue
            pushed.append("{}:{}".format(image["name"], image["tag"]))
            if module.check_mode or not image["bundle"]:
                continue  # check mode, or the action plugin asking what to send
            uploaded += push_bundle(registry, image["name"], image["tag"], image["bundle"])
            now = registry.served_config(image["name"], image["tag"])
            if now != image["config_digest"]:
                raise RegistryError(f"after the push the registry serves {image['name']}:{image['tag']} as "
                                    f"{now or 'nothing'}, not {image['config_digest']}")
    except (RegistryError, tarfile.TarError, OSError) as error:
        module.fail_json(msg=str(error), images=results)
    diff = {
        "before": "".join("{}:{} {}\n".format(e["name"], e["tag"], e["served"] or "(not served)") for e in results),
        "after": "".join("{}:{} {}\n".format(e["name"], e["tag"], e["wanted"]) for e in results),
    }
    module.exit_json(changed=bool(pushed), images=results, pushed=pushed, blobs_uploaded=uploaded, diff=diff)


if __name__ == "__main__":
    main()
