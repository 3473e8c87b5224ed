"""The lab node image: Debian bookworm with systemd, sshd and python3, cached under a tag derived from its recipe."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound

from lab.engine import ensure_debian_packages, log
from lab.spec import LabError

IMAGE_REPOSITORY = "swarmforge/lab-node"
SUITE = "bookworm"
MIRROR = os.environ.get("SWARMFORGE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt", "iproute2", "iputils-ping",
    "ca-certificates", "procps", "kmod", "curl", "gnupg", "netbase", "sudo", "less",
)
CUSTOMIZE_SCRIPT = Path(__file__).resolve().parent / "node-image" / "customize.sh"
IMAGE_CHANGES = ['CMD ["/sbin/init"]', "ENV container=docker"]
# A prebuilt image may be pulled from a registry that holds one under the same tag (e.g. a team mirror).
PULL_REGISTRY = os.environ.get("SWARMFORGE_LAB_IMAGE_REGISTRY", "")


def source_lines() -> list[str]:
    security = MIRROR.rstrip("/") + "-security"
    return [f"deb {MIRROR} {SUITE} main", f"deb {MIRROR} {SUITE}-updates main", f"deb {security} {SUITE}-security main"]


def recipe_tag() -> str:
    """A tag that changes whenever anything that goes into the image changes."""
    digest = hashlib.sha256()
    for part in (SUITE, " ".join(PACKAGES), " ".join(source_lines()).replace(MIRROR, "MIRROR"), CUSTOMIZE_SCRIPT.read_text(encoding="utf-8"), " ".join(IMAGE_CHANGES)):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def image_name() -> str:
    return f"{IMAGE_REPOSITORY}:{recipe_tag()}"


def image_exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
        return True
    except ImageNotFound:
        return False


def _try_pull(client: docker.DockerClient, name: str) -> bool:
    if not PULL_REGISTRY:
        return False
    remote = f"{PULL_REGISTRY.rstrip('/')}/{name}"
    try:
        image = client.images.pull(remote)
    except APIError as error:
        log(f"no prebuilt image at {remote} ({error.explanation}); building from Debian packages")
        return False
    image.tag(*name.split(":"))
    return True


def mmdebstrap_import(client: docker.DockerClient, name: str, packages: list[str] | tuple[str, ...],
                      hooks: list[str], changes: list[str],
                      reduce: Callable[[Path, Path], None] | None = None) -> None:
    """Build a minbase Debian root with these packages and customize hooks, and import it as image `name`;
    `reduce(rootfs_tar, smaller_tar)`, when given, makes the tarball that is imported instead."""
    ensure_debian_packages({"mmdebstrap": "mmdebstrap"})
    command = ["mmdebstrap", "--variant=minbase", "--quiet", f"--include={','.join(packages)}",
               *(f"--customize-hook={hook}" for hook in hooks), SUITE, "-", *source_lines()]
    with tempfile.TemporaryDirectory(prefix="swarmforge-image-") as workdir:
        tarball = Path(workdir) / "rootfs.tar"
        with tarball.open("wb") as sink:
            result = subprocess.run(command, stdout=sink, stderr=subprocess.PIPE, check=False)
        if result.returncode != 0:
            raise LabError(f"mmdebstrap failed (is {MIRROR} reachable? set SWARMFORGE_DEBIAN_MIRROR to a mirror):\n"
                           + result.stderr.decode(errors="replace")[-3000:])
        if reduce is not None:
            reduced = Path(workdir) / "reduced.tar"
            reduce(tarball, reduced)
            tarball = reduced
        repository, tag = name.rsplit(":", 1)
        client.api.import_image_from_file(str(tarball), repository=repository, tag=tag, changes=changes)


def _bootstrap(client: docker.DockerClient, name: str) -> None:
    mmdebstrap_import(client, name, PACKAGES, [
        f"upload {CUSTOMIZE_SCRIPT} /tmp/swarmforge-customize.sh",
        'chroot "$1" sh /tmp/swarmforge-customize.sh',
        'rm -f "$1/tmp/swarmforge-customize.sh"',
    ], IMAGE_CHANGES)


def ensure_image(client: docker.DockerClient) -> str:
    name = image_name()
    if image_exists(client, name):
        log(f"node image {name} is cached")
        return name
    started = time.monotonic()
    if not _try_pull(client, name):
        log(f"building node image {name} from Debian packages (about a minute)")
        _bootstrap(client, name)
    if not image_exists(client, name):
        raise LabError(f"node image {name} is still missing after the build; see the messages above")
    log(f"node image {name} ready in {time.monotonic() - started:.0f}s")
    return name
