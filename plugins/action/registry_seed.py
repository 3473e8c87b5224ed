# Copyright: swarmforge contributors
# Apache License 2.0
"""Controller side of registry_seed: read each docker-save archive here, ask the host's module what the registry
serves, and send only the images it lacks, as bundles prepared here (layers gzip-compressed on the controller's CPU,
registry manifest written), in one task for every image.

A bundle is an uncompressed tar of `manifest.json` (the registry manifest, schema 2) and `blobs/<hex>` (the image
configuration and the compressed layers, each named by its sha256)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20


def _archive_entry(archive: tarfile.TarFile, path: str, name: str, tag: str) -> dict:
    try:
        entries = json.load(archive.extractfile("manifest.json"))
    except (KeyError, ValueError) as error:
        raise AnsibleActionFail(f"{path} is not a `docker save` archive (no readable manifest.json: {error}); "
                                f"make it with `docker save IMAGE -o {path}`") from error
    wanted = f"{name}:{tag}"
    tagged = [entry for entry in entries if wanted in (entry.get("RepoTags") or [])]
    if tagged:
        return tagged[0]
    if len(entries) == 1:
        return entries[0]  # an archive of one image saved by ID or under another name
    raise AnsibleActionFail(f"{path} holds {len(entries)} images and none is tagged {wanted}: save that image "
                            "alone, or tag it so in the archive")


def config_digest(path: str, name: str, tag: str) -> str:
    """The image ID of the archive's image: the sha256 of its configuration as stored."""
    with tarfile.open(path, mode="r:") as archive:
        entry = _archive_entry(archive, path, name, tag)
        config = archive.extractfile(entry["Config"]).read()  # a few kilobytes of JSON
    return "sha256:" + hashlib.sha256(config).hexdigest()


def _compressed_copy(source, target_path: str, level: int) -> tuple[str, int]:
    """Copy a layer, gzip-compressing it unless it already is; return its digest and size as stored."""
    digest = hashlib.sha256()
    head = source.read(2)
    with open(target_path, "wb") as raw:
        class Hashing:
            """The file as stored, hashed as it is written."""

            def write(self, data):
                digest.update(data)
                return raw.write(data)

            def flush(self):
                raw.flush()

        sink = Hashing()
        # Already compressed (archives of some engines): kept as it is. Otherwise mtime 0 and no file name: the same
        # layer always compresses to the same blob.
        target = (sink if head == GZIP_MAGIC
                  else gzip.GzipFile(filename="", mode="wb", compresslevel=level, fileobj=sink, mtime=0))
        target.write(head)
        for chunk in iter(lambda: source.read(CHUNK), b""):
            target.write(chunk)
        if target is not sink:
            target.close()  # writes the gzip trailer; the file stays open
    return "sha256:" + digest.hexdigest(), os.path.getsize(target_path)


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o644
    return info


def make_bundle(path: str, name: str, tag: str, level: int, folder: str) -> str:
    """Write the bundle of one image into folder; return its path."""
    blobs = os.path.join(folder, "blobs")
    os.makedirs(blobs, exist_ok=True)
    with tarfile.open(path, mode="r:") as archive:
        entry = _archive_entry(archive, path, name, tag)
        config = archive.extractfile(entry["Config"]).read()
        config_hex = hashlib.sha256(config).hexdigest()
        with open(os.path.join(blobs, config_hex), "wb") as sink:
            sink.write(config)
        layers = []
        for layer in entry["Layers"]:
            staged = os.path.join(blobs, "staged")
            digest, size = _compressed_copy(archive.extractfile(layer), staged, level)
            os.replace(staged, os.path.join(blobs, digest.split(":", 1)[1]))
            layers.append({"mediaType": LAYER_GZIP, "size": size, "digest": digest})
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_V2,
                "config": {"mediaType": CONFIG_V1, "size": len(config), "digest": "sha256:" + config_hex},
                "layers": layers}
    bundle = os.path.join(folder, "bundle.tar")
    with tarfile.open(bundle, mode="w") as packed:
        data = json.dumps(manifest, indent=2).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        packed.addfile(info, io.BytesIO(data))
        for blob in sorted(os.listdir(blobs)):
            packed.add(os.path.join(blobs, blob), arcname=f"blobs/{blob}", filter=_plain)
    shutil.rmtree(blobs)
    return bundle


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        images = args.get("images") or []
        if not isinstance(images, list):
            raise AnsibleActionFail("images must be a list of {name, tag, archive}")
        level = int(args.get("compress_level", 1))
        if not 1 <= level <= 9:
            raise AnsibleActionFail(f"compress_level must be 1 to 9, not {level}")
        wanted = []
        for image in images:
            if not isinstance(image, dict) or not all(image.get(key) for key in ("name", "tag", "archive")):
                raise AnsibleActionFail(f"each image needs name, tag and archive (a `docker save` file on the "
                                        f"controller): {image!r}")
            archive = self._find_needle("files", image["archive"]) if not os.path.isabs(image["archive"]) \
                else image["archive"]
            if not os.path.isfile(archive):
                raise AnsibleActionFail(f"image archive {archive} not found on the controller: make it with "
                                        f"`docker save {image['name']}:{image['tag']} -o {archive}`")
            wanted.append({"name": image["name"], "tag": str(image["tag"]), "archive": archive,
                           "config_digest": config_digest(archive, image["name"], str(image["tag"]))})

        module_args = {key: value for key, value in args.items() if key != "images"}

        def module_images(bundles: dict[int, str]) -> list[dict]:
            return [{"name": w["name"], "tag": w["tag"], "config_digest": w["config_digest"],
                     **({"bundle": bundles[i]} if i in bundles else {})} for i, w in enumerate(wanted)]

        # What the registry serves: one call for every image (in check mode this is the whole answer).
        asked = self._execute_module("swarmforge.swarm.registry_seed", module_args={**module_args, "images": module_images({})},
                                     task_vars=task_vars)
        if asked.get("failed") or self._play_context.check_mode or not asked.get("pushed"):
            result.update(asked)
            return result

        to_push = {i for i, entry in enumerate(asked["images"]) if entry["action"] == "push"}
        local = tempfile.mkdtemp(prefix="swarmforge-seed-")
        remote_tmp = self._make_tmp_path()
        try:
            bundles = {}
            for i in sorted(to_push):
                folder = os.path.join(local, str(i))
                bundle = make_bundle(wanted[i]["archive"], wanted[i]["name"], wanted[i]["tag"], level, folder)
                remote = self._connection._shell.join_path(remote_tmp, f"bundle-{i}.tar")
                self._transfer_file(bundle, remote)
                os.remove(bundle)
                bundles[i] = remote
            self._fixup_perms2([remote_tmp, *bundles.values()])
            pushed = self._execute_module("swarmforge.swarm.registry_seed",
                                          module_args={**module_args, "images": module_images(bundles)},
                                          task_vars=task_vars)
        finally:
            shutil.rmtree(local, ignore_errors=True)
            self._remove_tmp_path(remote_tmp)
        result.update(pushed)  # it compared before pushing: what the registry served before, and what it pushed
        return result
