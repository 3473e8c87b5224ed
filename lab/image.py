"""The lab node image: Debian (12 bookworm or 13 trixie) with systemd, sshd and python3, cached under a tag derived
from its recipe."""

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
from lab.spec import DEBIAN_SUITES, DEFAULT_DEBIAN, VM_DEBIAN, LabError

IMAGE_REPOSITORY = "swarmforge/lab-node"
SUITE = DEBIAN_SUITES[VM_DEBIAN]  # what the application images and the VM image are built from
MIRROR = os.environ.get("SWARMFORGE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt", "iproute2", "iputils-ping",
    "ca-certificates", "procps", "kmod", "curl", "gnupg", "netbase", "sudo", "less",
)
CUSTOMIZE_SCRIPT = Path(__file__).resolve().parent / "node-image" / "customize.sh"
IMAGE_CHANGES = ['CMD ["/sbin/init"]', "ENV container=docker"]
# A prebuilt image may be pulled from a registry that holds one under the same tag (e.g. a team mirror).
PULL_REGISTRY = os.environ.get("SWARMFORGE_LAB_IMAGE_REGISTRY", "")


def source_lines(suite: str = SUITE) -> list[str]:
    security = MIRROR.rstrip("/") + "-security"
    return [f"deb {MIRROR} {suite} main", f"deb {MIRROR} {suite}-updates main", f"deb {security} {suite}-security main"]


def recipe_tag(release: str = DEFAULT_DEBIAN) -> str:
    """A tag that changes whenever anything that goes into the image changes. Debian 12's keeps the form it had
    before there were two releases (no rebuild); another release's starts with its number."""
    suite = DEBIAN_SUITES[release]
    digest = hashlib.sha256()
    for part in (suite, " ".join(PACKAGES), " ".join(source_lines(suite)).replace(MIRROR, "MIRROR"),
                 CUSTOMIZE_SCRIPT.read_text(encoding="utf-8"), " ".join(IMAGE_CHANGES)):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12] if release == "12" else f"debian{release}-{digest.hexdigest()[:12]}"


def image_name(release: str = DEFAULT_DEBIAN) -> str:
    return f"{IMAGE_REPOSITORY}:{recipe_tag(release)}"


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
                      reduce: Callable[[Path, Path], None] | None = None, suite: str = SUITE) -> None:
    """Build a minbase Debian root with these packages and customize hooks, and import it as image `name`;
    `reduce(rootfs_tar, smaller_tar)`, when given, makes the tarball that is imported instead."""
    ensure_debian_packages({"mmdebstrap": "mmdebstrap"})
    command = ["mmdebstrap", "--variant=minbase", "--quiet", f"--include={','.join(packages)}",
               *(f"--customize-hook={hook}" for hook in hooks), suite, "-", *source_lines(suite)]
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


def _bootstrap(client: docker.DockerClient, name: str, release: str) -> None:
    mmdebstrap_import(client, name, PACKAGES, [
        f"upload {CUSTOMIZE_SCRIPT} /tmp/swarmforge-customize.sh",
        'chroot "$1" sh /tmp/swarmforge-customize.sh',
        'rm -f "$1/tmp/swarmforge-customize.sh"',
    ], IMAGE_CHANGES, suite=DEBIAN_SUITES[release])


def ensure_image(client: docker.DockerClient, release: str = DEFAULT_DEBIAN) -> str:
    name = image_name(release)
    if image_exists(client, name):
        log(f"node image {name} is cached")
        return name
    started = time.monotonic()
    if not _try_pull(client, name):
        log(f"building node image {name} from Debian {release} packages (about a minute)")
        _bootstrap(client, name, release)
    if not image_exists(client, name):
        raise LabError(f"node image {name} is still missing after the build; see the messages above")
    log(f"node image {name} ready in {time.monotonic() - started:.0f}s")
    return name
