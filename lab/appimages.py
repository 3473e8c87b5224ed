"""Application images for the lab, built from Debian packages because no registry can be pulled from.

`swarmforge/busybox` holds Debian's static busybox: enough for test services (sleep, a shell, `httpd`, `nc`, and
`wget -O-`, which works where `wget -q` does not). Nodes get images through the lab's registry once the registry
role has run; before that, `load_into_nodes` copies an image into each node's engine.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from lab.engine import can_install_packages, log
from lab.spec import LabError, LabSpec

BUSYBOX_IMAGE = "swarmforge/busybox:1.35"


def _busybox_binary(workdir: Path) -> bytes:
    """Debian's static busybox, fetched with apt-get download: nothing is installed on the host."""
    if not can_install_packages():
        raise LabError("building the busybox image needs Debian's apt-get as root (apt-get download busybox-static)")
    download = ["apt-get", "download", "-q", "busybox-static"]
    if subprocess.run(download, cwd=workdir, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(download, cwd=workdir, capture_output=True, check=True)
    deb = next(workdir.glob("busybox-static_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(workdir / "root")], check=True)
    return (workdir / "root" / "bin" / "busybox").read_bytes()


def _rootfs_tar(busybox: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for folder in ("bin", "tmp", "etc", "www", "data"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            archive.addfile(info)
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(busybox), 0o755
        archive.addfile(info, io.BytesIO(busybox))
        for applet in ("sh", "sleep", "cat", "echo", "ls", "httpd", "nc", "wget", "hostname", "ip", "nslookup"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            archive.addfile(link)
        for name, text in (("etc/passwd", "root:x:0:0:root:/:/bin/sh\n"), ("etc/group", "root:x:0:\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def ensure_busybox_image(client: docker.DockerClient) -> str:
    try:
        client.images.get(BUSYBOX_IMAGE)
        return BUSYBOX_IMAGE
    except ImageNotFound:
        pass
    log(f"building {BUSYBOX_IMAGE} from Debian's busybox-static")
    with tempfile.TemporaryDirectory(prefix="swarmforge-busybox-") as workdir:
        tar = _rootfs_tar(_busybox_binary(Path(workdir)))
    repository, tag = BUSYBOX_IMAGE.split(":")
    client.api.import_image_from_data(tar, repository=repository, tag=tag,
                                      changes=['ENV PATH=/bin', 'CMD ["/bin/sh"]'])
    return BUSYBOX_IMAGE


def load_into_nodes(client: docker.DockerClient, spec: LabSpec, image: str, container_name) -> None:
    """Copy a host image into each node's own engine (docker save | docker load)."""
    data = b"".join(client.images.get(image).save(named=True))
    for node in spec.nodes:
        container = client.containers.get(container_name(spec, node))
        result = subprocess.run(["docker", "exec", "-i", container.name, "docker", "load", "-q"], input=data,
                                capture_output=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"loading {image} into {node.name}: {result.stderr.decode(errors='replace')}")
