"""The controller half of registry_seed, on archives written by this machine's real Docker engine format: the image
ID read from an archive, and bundles whose blobs are named by their digests, gzip layers that decompress to the
image's diff IDs, and a manifest that names them."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from ansible.errors import AnsibleActionFail
from ansible_collections.swarmforge.swarm.plugins.action.registry_seed import config_digest, make_bundle

LAYER = b"".join(bytes([i % 251]) * 4096 for i in range(64))  # not a real tar: the plugin treats layers as bytes


def add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def legacy_archive(path: Path, layers: list[bytes], tags: list[str]) -> str:
    """The format of `docker save` up to Docker 24: <id>.json and <layer>/layer.tar."""
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    image_id = hashlib.sha256(config).hexdigest()
    with tarfile.open(path, "w") as archive:
        add(archive, f"{image_id}.json", config)
        for index, layer in enumerate(layers):
            add(archive, f"l{index}/layer.tar", layer)
        add(archive, "manifest.json", json.dumps([{"Config": f"{image_id}.json", "RepoTags": tags,
                                                    "Layers": [f"l{i}/layer.tar" for i in range(len(layers))]}]).encode())
    return "sha256:" + image_id


def test_the_config_digest_is_the_image_id(tmp_path: Path) -> None:
    archive = tmp_path / "web.tar"
    image_id = legacy_archive(archive, [LAYER], ["swarmforge/web:v1"])
    assert config_digest(str(archive), "swarmforge/web", "v1") == image_id


def test_a_bundle_holds_the_config_gzip_layers_and_their_manifest(tmp_path: Path) -> None:
    archive = tmp_path / "web.tar"
    image_id = legacy_archive(archive, [LAYER, b"second layer"], ["swarmforge/web:v1"])
    bundle = make_bundle(str(archive), "swarmforge/web", "v1", 1, str(tmp_path / "out"))
    with tarfile.open(bundle) as packed:
        blobs = {m.name: packed.extractfile(m).read() for m in packed if m.isfile()}
    manifest = json.loads(blobs.pop("manifest.json"))
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["config"]["digest"] == image_id
    for name, data in blobs.items():
        assert name == "blobs/" + hashlib.sha256(data).hexdigest()
    config = json.loads(blobs["blobs/" + image_id.split(":")[1]])
    layers = [gzip.decompress(blobs["blobs/" + layer["digest"].split(":")[1]]) for layer in manifest["layers"]]
    assert layers == [LAYER, b"second layer"]
    assert ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers] == config["rootfs"]["diff_ids"]
    assert [layer["size"] for layer in manifest["layers"]] == [
        len(blobs["blobs/" + layer["digest"].split(":")[1]]) for layer in manifest["layers"]]


def test_the_same_layer_always_makes_the_same_blob(tmp_path: Path) -> None:
    archive = tmp_path / "web.tar"
    legacy_archive(archive, [LAYER], ["swarmforge/web:v1"])
    first = make_bundle(str(archive), "swarmforge/web", "v1", 1, str(tmp_path / "a"))
    second = make_bundle(str(archive), "swarmforge/web", "v1", 1, str(tmp_path / "b"))
    assert Path(first).read_bytes() == Path(second).read_bytes()


def test_an_archive_of_several_images_needs_the_tag(tmp_path: Path) -> None:
    archive = tmp_path / "two.tar"
    legacy_archive(archive, [LAYER], ["swarmforge/web:v1"])
    with tarfile.open(archive) as source:
        entries = json.load(source.extractfile("manifest.json"))
    entries.append(dict(entries[0], RepoTags=["swarmforge/web:v2"]))
    with tarfile.open(archive, "a") as target:
        add(target, "manifest.json", json.dumps(entries).encode())  # the later member wins when read
    assert config_digest(str(archive), "swarmforge/web", "v2").startswith("sha256:")
    with pytest.raises(AnsibleActionFail, match="none is tagged swarmforge/web:v3"):
        config_digest(str(archive), "swarmforge/web", "v3")


def test_a_file_that_is_no_docker_save_archive_names_the_fix(tmp_path: Path) -> None:
    archive = tmp_path / "not.tar"
    with tarfile.open(archive, "w") as target:
        add(target, "hello.txt", b"hi")
    with pytest.raises(AnsibleActionFail, match="docker save"):
        config_digest(str(archive), "swarmforge/web", "v1")


def test_a_layer_already_gzip_compressed_is_kept_as_it_is(tmp_path: Path) -> None:
    packed = gzip.compress(LAYER, mtime=0)
    archive = tmp_path / "web.tar"
    legacy_archive(archive, [packed], ["swarmforge/web:v1"])
    bundle = make_bundle(str(archive), "swarmforge/web", "v1", 1, str(tmp_path / "out"))
    with tarfile.open(bundle) as stored:
        manifest = json.load(stored.extractfile("manifest.json"))
        digest = manifest["layers"][0]["digest"]
        assert stored.extractfile("blobs/" + digest.split(":")[1]).read() == packed
    assert digest == "sha256:" + hashlib.sha256(packed).hexdigest()
