"""The lab VM image: a Debian bookworm disk with a kernel, systemd, sshd, python3 and the packages the roles install.

Built from Debian packages with mmdebstrap into a directory, written into an ext4 file system with `mke2fs -d` (no
loop devices, no root-only mounts) and converted to qcow2; the kernel and initrd are kept beside it for qemu's
-kernel/-initrd. Every VM boots from its own copy-on-write overlay of this base. Cached under a name derived from the
recipe, so changing the recipe builds a new image and an unchanged recipe builds nothing.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from lab.engine import ensure_debian_packages, log
from lab.image import MIRROR, SUITE, source_lines
from lab.spec import CACHE_ROOT, LabError

# The roles' packages are installed ahead (docker.io, NFS, chrony, nftables, the registry), so a converge on software-
# emulated CPUs spends its time on configuration, not on dpkg. apparmor: Docker refuses to start containers without
# apparmor_parser when the kernel has AppArmor enabled.
PACKAGES = (
    "linux-image-cloud-amd64", "systemd-sysv", "udev", "dbus", "apparmor", "openssh-server", "python3", "python3-apt",
    "iproute2", "iputils-ping", "kmod", "procps", "ca-certificates", "netbase", "sudo", "e2fsprogs",
    "docker.io", "python3-docker", "nfs-common", "rpcbind", "nfs-kernel-server", "chrony", "nftables",
    "docker-registry",
)
# Package lists kept: fresh when the image is built, they spare each VM's first converge the parsing of new ones.
MMDEBSTRAP_OPTIONS = ("--variant=apt", "--skip=cleanup/apt/lists")
SIZE = "8G"  # the root file system as the VM sees it; the qcow2 files hold only what is written
# customize.sh makes one image safe to boot many times (own host keys and machine-id); customize-vm.sh adds the seed.
CUSTOMIZE_SCRIPTS = tuple(Path(__file__).resolve().parent / "node-image" / name
                          for name in ("customize.sh", "customize-vm.sh"))
VM_CACHE = CACHE_ROOT / "vm"


def recipe_tag() -> str:
    digest = hashlib.sha256()
    scripts = [script.read_text(encoding="utf-8") for script in CUSTOMIZE_SCRIPTS]
    for part in (SUITE, " ".join(PACKAGES), " ".join(MMDEBSTRAP_OPTIONS), SIZE,
                 " ".join(source_lines()).replace(MIRROR, "MIRROR"), *scripts):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


class VmImage:
    """The three files a VM boots from."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.disk = folder / "base.qcow2"
        self.kernel = folder / "vmlinuz"
        self.initrd = folder / "initrd.img"

    def complete(self) -> bool:
        return all(path.is_file() for path in (self.disk, self.kernel, self.initrd))


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace")[-3000:]
        raise LabError(f"{what} failed ({' '.join(command[:2])} ...):\n{detail}")


def _build(image: VmImage) -> None:
    ensure_debian_packages({"mmdebstrap": "mmdebstrap", "e2fsprogs": "mke2fs", "qemu-utils": "qemu-img"})
    work = Path(tempfile.mkdtemp(prefix="swarmforge-vmimage-", dir=image.folder.parent))
    try:
        root = work / "root"
        hooks = [hook for script in CUSTOMIZE_SCRIPTS for hook in (
            f"upload {script} /tmp/{script.name}", f'chroot "$1" env SWARMFORGE_KEEP_APT_LISTS=1 sh /tmp/{script.name}',
            f'rm -f "$1/tmp/{script.name}"')]
        _run(["mmdebstrap", *MMDEBSTRAP_OPTIONS, "--quiet", f"--include={','.join(PACKAGES)}",
              *(f"--customize-hook={hook}" for hook in hooks), SUITE, str(root), *source_lines()],
             f"mmdebstrap (is {MIRROR} reachable? set SWARMFORGE_DEBIAN_MIRROR to a mirror)")
        kernels = sorted((root / "boot").glob("vmlinuz-*"))
        initrds = sorted((root / "boot").glob("initrd.img-*"))
        if not kernels or not initrds:
            raise LabError(f"the VM image has no kernel or initrd in /boot ({root / 'boot'}): check PACKAGES")
        shutil.copyfile(kernels[-1], work / "vmlinuz")
        shutil.copyfile(initrds[-1], work / "initrd.img")
        raw = work / "root.ext4"
        _run(["mke2fs", "-q", "-t", "ext4", "-L", "swarmforge-root", "-d", str(root), str(raw), SIZE], "mke2fs")
        _run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(work / "base.qcow2")], "qemu-img convert")
        image.folder.mkdir(parents=True, exist_ok=True)
        for name in ("vmlinuz", "initrd.img", "base.qcow2"):  # the disk last: it marks the image complete
            (work / name).replace(image.folder / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure_vm_image() -> VmImage:
    image = VmImage(VM_CACHE / recipe_tag())
    if image.complete():
        log(f"VM image {image.folder.name} is cached")
        return image
    VM_CACHE.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log(f"building VM image {image.folder.name} from Debian packages (one to two minutes)")
    _build(image)
    log(f"VM image {image.folder.name} ready in {time.monotonic() - started:.0f}s "
        f"({image.disk.stat().st_size / 2**20:.0f} MiB)")
    for old in VM_CACHE.iterdir():
        if old.is_dir() and old != image.folder and not old.name.startswith("swarmforge-vmimage-"):
            shutil.rmtree(old, ignore_errors=True)
    return image
