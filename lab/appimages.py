"""Application images for the lab, built from Debian packages because no registry can be pulled from.

- `swarmforge/busybox`: Debian's static busybox, enough for test services (sleep, a shell, `httpd`, `nc`, and
  `wget -O-`, which works where `wget -q` does not).
- `swarmforge/web:v1` and `:v2`: busybox httpd answering "swarmforge web vN from <task hostname>", serving
  /www (where a shared html volume goes) and a built-in /version page.
- `swarmforge/haproxy:2.6`: Debian's haproxy binary and the shared libraries it loads, nothing else (no shell, no
  package manager): a few megabytes to push and pull instead of eighty.
- `swarmforge/mariadb:10.11`: MariaDB's server core; passwords only from files (`MYSQL_*_FILE`, swarm secrets).
- `swarmforge/pyapp:1`: Python with PyMySQL, running the guestbook app (`/app/guestbook`, reads its database
  password from a secret) or the cluster visualizer (`/app/visualizer`, reads a manager's Docker socket).

Images built from Debian packages carry a recipe label; a change to their packages or files rebuilds them.

`export_app_images` saves them as tarballs for the registry role to push into the lab's registry; before the
registry exists, `load_into_nodes` copies an image into each node's engine.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import shlex
import subprocess
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker

from lab.engine import can_install_packages, log
from lab.image import image_exists, mmdebstrap_import, source_lines
from lab.spec import LabError, LabSpec

BUSYBOX_IMAGE = "swarmforge/busybox:1.35"
WEB_IMAGE = "swarmforge/web"
HAPROXY_IMAGE = "swarmforge/haproxy:2.6"
MARIADB_IMAGE = "swarmforge/mariadb:10.11"
PYAPP_IMAGE = "swarmforge/pyapp:1"
RECIPE_LABEL = "io.swarmforge.recipe"
APP_SOURCES = Path(__file__).resolve().parent / "app-images"


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


def _add_file(archive: tarfile.TarFile, name: str, text: str, mode: int = 0o644) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    archive.addfile(info, io.BytesIO(data))


def _rootfs_tar(busybox: bytes, extra: dict[str, tuple[str, int]] | None = None) -> bytes:
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
        _add_file(archive, "etc/passwd", "root:x:0:0:root:/:/bin/sh\n")
        _add_file(archive, "etc/group", "root:x:0:\n")
        for name, (text, mode) in (extra or {}).items():
            _add_file(archive, name, text, mode)
    return buffer.getvalue()


WEB_START = """#!/bin/sh
# Answers "swarmforge web VERSION from HOSTNAME" unless a shared html volume already holds an index page.
echo "swarmforge web ${WEB_VERSION} from $(hostname)" > /version/index.html
[ -s /www/index.html ] || cp /version/index.html /www/index.html
exec httpd -f -p "${WEB_PORT:-80}" -h /www
"""


def _busybox_rootfs(client: docker.DockerClient, name: str, changes: list[str],
                    extra: dict[str, tuple[str, int]] | None = None) -> str:
    if image_exists(client, name):
        return name
    log(f"building {name} from Debian's busybox-static")
    with tempfile.TemporaryDirectory(prefix="swarmforge-busybox-") as workdir:
        tar = _rootfs_tar(_busybox_binary(Path(workdir)), extra)
    repository, tag = name.rsplit(":", 1)
    client.api.import_image_from_data(tar, repository=repository, tag=tag, changes=changes)
    return name


def ensure_busybox_image(client: docker.DockerClient) -> str:
    return _busybox_rootfs(client, BUSYBOX_IMAGE, ["ENV PATH=/bin", 'CMD ["/bin/sh"]'])


def ensure_web_image(client: docker.DockerClient, version: str) -> str:
    return _busybox_rootfs(client, f"{WEB_IMAGE}:{version}",
                           ["ENV PATH=/bin", f"ENV WEB_VERSION={version}", "EXPOSE 80", 'CMD ["/bin/start"]'],
                           {"bin/start": (WEB_START, 0o755), "version/.keep": ("", 0o644)})


@dataclass(frozen=True)
class DebianImage:
    """An image built from Debian packages (mmdebstrap minbase), with files of this repository copied in."""

    name: str
    packages: tuple[str, ...]
    changes: tuple[str, ...]
    files: tuple[tuple[str, str, int], ...] = ()  # (file in lab/app-images, path in the image, mode)
    setup: tuple[str, ...] = ()  # shell commands run in the image's root after the packages
    prune: tuple[str, ...] = ()  # paths the service never reads, removed to keep the image small
    # When set, the image holds only these executables, the shared libraries they load (ldd) and the `keep` paths
    # (shell globs, inside the root): every other file of the Debian root is left out.
    only: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()

    def recipe(self) -> str:
        digest = hashlib.sha256()
        for part in (*self.packages, *self.changes, *self.setup, *self.prune, *self.only, *self.keep, *source_lines()):
            digest.update(part.encode() + b"\0")
        for source, target, mode in self.files:
            digest.update((APP_SOURCES / source).read_bytes() + f"\0{target}\0{mode:o}\0".encode())
        return digest.hexdigest()[:12]


# haproxy needs its binary and the libraries it loads (libgcc_s too: glibc loads it to cancel threads); its
# configuration comes from a swarm config, its address lookups from its own resolver. Every megabyte is pushed to the
# registry and pulled by the nodes (slowly, on emulated VMs): the Debian root around it is left out.
HAPROXY = DebianImage(HAPROXY_IMAGE, ("haproxy",), (
    'CMD ["/usr/sbin/haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]', "EXPOSE 80",
    "ENV PATH=/usr/sbin:/usr/bin"),
    only=("/usr/sbin/haproxy",), keep=("/usr/lib/*/libgcc_s.so.1", "/etc/passwd", "/etc/group", "/tmp"))
# The tutorials' database: MariaDB's server and client cores (no perl, no init scripts), started by db-start.
MARIADB = DebianImage(MARIADB_IMAGE, ("mariadb-server-core", "mariadb-client-core"), (
    'CMD ["/usr/local/bin/db-start"]', "EXPOSE 3306"),
    files=(("db-start.sh", "/usr/local/bin/db-start", 0o755),),
    setup=("useradd --system --user-group --no-create-home --home-dir /var/lib/mysql --shell /usr/sbin/nologin mysql",))
# The guestbook (a web app reading its database password from a secret) and the cluster visualizer.
PYAPP = DebianImage(PYAPP_IMAGE, ("python3", "python3-pymysql"), ('CMD ["/app/guestbook"]', "EXPOSE 80"),
                    files=(("guestbook.py", "/app/guestbook", 0o755), ("visualizer.py", "/app/visualizer", 0o755),
                           ("apphttp.py", "/app/apphttp.py", 0o644)))


def ensure_debian_image(client: docker.DockerClient, image: DebianImage) -> str:
    recipe = image.recipe()
    if image_exists(client, image.name) and client.images.get(image.name).labels.get(RECIPE_LABEL) == recipe:
        return image.name
    log(f"building {image.name} from Debian packages ({', '.join(image.packages)}; about a minute)")
    hooks = []
    for source, target, mode in image.files:
        hooks += [f'mkdir -p "$1{Path(target).parent}"', f"upload {APP_SOURCES / source} {target}",
                  f'chmod {mode:o} "$1{target}"']
    hooks += [f'chroot "$1" sh -c {shlex.quote(command)}' for command in image.setup]
    hooks.append('rm -rf "$1"/usr/share/doc "$1"/usr/share/man "$1"/var/lib/apt/lists/*'
                 + "".join(f' "$1"{path}' for path in image.prune))
    if image.only:
        listing = " ".join(shlex.quote(path) for path in image.only)
        hooks.append(f'chroot "$1" sh -c {shlex.quote(f"for exe in {listing}; do echo $exe; ldd $exe; done")}'
                     f' > "$1/{KEEP_LISTING}"')
        globs = " ".join(image.keep)
        hooks.append(f'chroot "$1" sh -c {shlex.quote(f"ls -d {globs}")} >> "$1/{KEEP_LISTING}"')
    mmdebstrap_import(client, image.name, image.packages, hooks, [*image.changes, f"LABEL {RECIPE_LABEL}={recipe}"],
                      reduce=only_listed if image.only else None)
    return image.name


KEEP_LISTING = ".swarmforge-keep"


def listed_paths(text: str) -> list[str]:
    """The paths in the keep listing: executables, `ldd` lines (`lib => /path (0x..)`, `/path (0x..)`) and plain
    paths; the kernel's vDSO, which has no file, is not one."""
    paths = []
    for line in text.splitlines():
        words = line.split()
        if "=>" in words:
            words = words[words.index("=>") + 1:]
        if words and words[0].startswith("/"):
            paths.append(words[0])
    return paths


def _normal(name: str) -> str:
    """A member's name as a path from the root, without "./" or "/" before it; the root itself is ""."""
    while name.startswith("./"):
        name = name[2:]
    return posixpath.normpath("/" + name).lstrip("/")


def needed_members(members: dict[str, tarfile.TarInfo], paths: list[str]) -> set[str]:
    """Every member a path needs: each directory on its way, each symbolic link followed (merged /usr: /lib ->
    usr/lib), and what it ends at; a directory brings everything under it."""
    needed: set[str] = set()
    pending = [_normal(path) for path in paths]
    for _ in range(10000):
        if not pending:
            break
        parts, current = pending.pop().split("/"), ""
        for index, part in enumerate(parts):
            current = posixpath.join(current, part) if current else part
            member = members.get(current)
            if member is None:
                break
            needed.add(current)
            if member.islnk():  # a hard link's data is its target's
                pending.append(_normal(member.linkname))
            if member.issym():
                base = "" if member.linkname.startswith("/") else posixpath.dirname(current)
                pending.append(_normal(posixpath.join(base, member.linkname, *parts[index + 1:])))
                break
            if member.isdir() and index == len(parts) - 1:
                needed.update(name for name in members if name.startswith(current + "/"))
    return needed


def only_listed(source: Path, target: Path) -> None:
    """Copy from the root tarball only what the keep listing needs (and the root directory)."""
    with tarfile.open(source, mode="r:") as archive:
        members = {_normal(member.name): member for member in archive.getmembers()}
        listing = members.pop(KEEP_LISTING, None)
        if listing is None:
            raise LabError(f"the image build wrote no {KEEP_LISTING}: cannot tell which files to keep")
        needed = needed_members(members, listed_paths(archive.extractfile(listing).read().decode()))
        with tarfile.open(target, mode="w:") as reduced:
            for name, member in members.items():
                if name == "" or name in needed:
                    reduced.addfile(member, archive.extractfile(member) if member.isfile() else None)


def export_app_images(client: docker.DockerClient, folder: Path) -> list[dict[str, str]]:
    """Build the lab's application images when missing and save each as a tarball for the registry role."""
    folder.mkdir(parents=True, exist_ok=True)
    # The Debian-based images side by side: each is mostly its own downloads and dpkg runs.
    with ThreadPoolExecutor(max_workers=3) as pool:
        debian = [pool.submit(ensure_debian_image, client, image) for image in (HAPROXY, MARIADB, PYAPP)]
        images = [ensure_web_image(client, "v1"), ensure_web_image(client, "v2"), *(job.result() for job in debian)]
    exported = []
    for name in images:
        image = client.images.get(name)
        archive = folder / (name.replace("/", "_").replace(":", "_") + ".tar")
        marker = archive.with_suffix(".id")
        if not (archive.is_file() and marker.is_file() and marker.read_text(encoding="utf-8") == image.id):
            with archive.open("wb") as sink:
                for chunk in image.save(named=True):
                    sink.write(chunk)
            marker.write_text(image.id, encoding="utf-8")
        repository, tag = name.rsplit(":", 1)
        exported.append({"name": repository, "tag": tag, "archive": str(archive), "id": image.id})
    return exported


def load_into_nodes(client: docker.DockerClient, spec: LabSpec, image: str, container_name) -> None:
    """Copy a host image into each node's own engine (docker save | docker load)."""
    data = b"".join(client.images.get(image).save(named=True))
    for node in spec.nodes:
        container = client.containers.get(container_name(spec, node))
        result = subprocess.run(["docker", "exec", "-i", container.name, "docker", "load", "-q"], input=data,
                                capture_output=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"loading {image} into {node.name}: {result.stderr.decode(errors='replace')}")
