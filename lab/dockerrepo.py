"""An apt repository with the layout, package names and signing of Docker's own (download.docker.com/linux/debian),
which the lab serves so that the roles' docker-ce path runs end to end without Docker's servers.

Its packages are **not Docker's builds**: they are Debian's own docker.io, containerd and runc, repacked under
Docker's package names — docker-ce (dockerd, from docker.io), docker-ce-cli (the docker command, from docker.io) and
containerd.io (containerd and runc together, as Docker ships them) — with Docker's version scheme
(``5:20.10.24-1~debian.12~bookworm``). Every docker-ce version is built from the same docker.io: two packaged versions
(``-1``, ``-2``) let upgrade.yml move a cluster from one to the next as it would between Docker's releases; the engine
inside them is the same. Docker's buildx and compose plugins have no Debian 12 counterpart and are not served.

A lab's repository publishes its first version at ``lab up``; ``python -m lab docker-ce-release`` publishes the next
one, as Docker publishing a release. The index is signed with a key made for the lab (InRelease and Release.gpg); its
public key is served at ``<base>/debian/gpg`` as Docker serves theirs. The lab's apt proxy serves the tree.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from email.utils import formatdate
from pathlib import Path

from lab.aptproxy import DEFAULT_PORT
from lab.engine import ensure_debian_packages, log
from lab.image import MIRROR
from lab.spec import CACHE_ROOT, DEBIAN_SUITES, LabError, LabSpec

# The URL path under the apt proxy, as Docker's https://download.docker.com/linux.
URL_PATH = "/docker-ce/linux"
COMPONENT = "stable"
ARCH = "amd64"
# Packaged versions the lab's repository can publish, oldest first.
RELEASES = 2
MAINTAINER = "swarmforge lab <lab@swarmforge.invalid>"
SOURCES = ("docker.io", "containerd", "runc")
# Debian 13 ships the docker command apart (docker-cli); Debian 12's docker.io carries it.
OPTIONAL_SOURCES = ("docker-cli",)
NOTE = ("Rebuilt by the swarmforge lab from Debian's {source} under Docker's package name, for testing the docker-ce "
        "installation path; not Docker's build.")
# Where docker.io carries the docker command (Debian 12), it and its shell completions go to docker-ce-cli; the rest of
# docker.io to docker-ce.
CLI_FILES = ("usr/bin/docker", "usr/share/bash-completion/completions/docker", "usr/share/zsh/vendor-completions/_docker",
             "usr/share/fish/vendor_completions.d/docker.fish")
KEPT_FIELDS = ("Section", "Priority", "Homepage", "Recommends", "Suggests")


def repo_root(spec: LabSpec) -> Path:
    """What the lab's apt proxy serves: URL_PATH maps to <this>/docker-ce/linux."""
    return spec.state_dir / "www"


def base_url(spec: LabSpec) -> str:
    return f"http://{spec.gateway}:{DEFAULT_PORT}{URL_PATH}"


def _fetch(url: str, dest: Path, sha256: str | None = None) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=120) as response, tempfile.NamedTemporaryFile(
            dir=dest.parent, delete=False) as sink:
        shutil.copyfileobj(response, sink)
    if sha256 and hashlib.sha256(Path(sink.name).read_bytes()).hexdigest() != sha256:
        os.unlink(sink.name)
        raise LabError(f"{url}: the download does not match the SHA256 of Debian's index; try again")
    os.replace(sink.name, dest)
    return dest


def _newer(left: str, right: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", left, "gt", right], check=False).returncode == 0


def _debian_packages(suite: str) -> dict[str, dict[str, str]]:
    """The newest docker.io, containerd and runc in the suite, its updates and its security archive."""
    security = MIRROR.rstrip("/") + "-security"
    found: dict[str, dict[str, str]] = {}
    for archive, dist in ((MIRROR, suite), (MIRROR, f"{suite}-updates"), (security, f"{suite}-security")):
        url = f"{archive}/dists/{dist}/main/binary-{ARCH}/Packages.xz"
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                text = lzma.decompress(response.read()).decode("utf-8", "replace")
        except OSError as error:
            raise LabError(f"cannot read {url} ({error}): is the Debian mirror reachable? "
                           "(SWARMFORGE_DEBIAN_MIRROR names another)") from None
        for stanza in text.split("\n\n"):
            name = stanza[9:stanza.find("\n")] if stanza.startswith("Package: ") else ""
            if name not in SOURCES + OPTIONAL_SOURCES:
                continue
            fields = dict(re.findall(r"(?m)^(Version|Filename|SHA256): (\S+)$", stanza))
            if name not in found or _newer(fields["Version"], found[name]["Version"]):
                found[name] = {**fields, "url": f"{archive}/{fields['Filename']}"}
    missing = [name for name in SOURCES if name not in found]
    if missing:
        raise LabError(f"Debian {suite} has no {', '.join(missing)} package: the lab cannot build its docker-ce repo")
    return found


def _control(text: str) -> dict[str, str]:
    """A control stanza's fields (continuation lines kept with their field)."""
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return fields


def _write_control(tree: Path, fields: dict[str, str]) -> None:
    (tree / "DEBIAN" / "md5sums").unlink(missing_ok=True)  # files moved between packages: dpkg makes its own
    text = "".join(f"{key}: {value}\n" for key, value in fields.items() if value)
    (tree / "DEBIAN" / "control").write_text(text, encoding="utf-8")


def _depends(*fields: str, drop: tuple[str, ...] = (), add: tuple[str, ...] = ()) -> str:
    entries = [entry.strip() for text in fields for entry in text.split(",") if entry.strip()]
    kept = [entry for entry in entries if entry.split()[0] not in drop]
    return ", ".join(dict.fromkeys([*add, *kept]))


def _build(tree: Path, out: Path) -> None:
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "-b", str(tree), str(out)], check=True,
                   stdout=subprocess.DEVNULL)


def _upstream(version: str) -> str:
    return re.split(r"[+~-]", version.split(":")[-1])[0]


def _description(summary: str, source: str) -> str:
    return f"{summary}\n {NOTE.format(source=source)}"


def build_packages(release: str) -> Path:
    """Build (once per machine) the docker-ce, docker-ce-cli and containerd.io packages of RELEASES versions for a
    Debian release; returns the folder that holds them."""
    suite = DEBIAN_SUITES[release]
    folder = CACHE_ROOT / "docker-ce" / suite
    stamp = folder / "built.json"
    if stamp.is_file():
        return folder
    ensure_debian_packages({"gpg": "gpg"})
    log(f"building the lab's docker-ce packages for Debian {release} from Debian's {', '.join(SOURCES)}")
    sources = _debian_packages(suite)
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as work_dir:
        work = Path(work_dir)
        trees = {}
        for name, fields in sources.items():
            deb = _fetch(fields["url"], work / f"{name}.deb", fields.get("SHA256"))
            trees[name] = work / name
            subprocess.run(["dpkg-deb", "-R", str(deb), str(trees[name])], check=True)
        controls = {name: _control((tree / "DEBIAN" / "control").read_text(encoding="utf-8"))
                    for name, tree in trees.items()}
        folder.mkdir(parents=True, exist_ok=True)
        # containerd.io: containerd and runc in one package, as Docker's.
        containerd, runc = trees["containerd"], trees["runc"]
        for path in sorted(runc.rglob("*")):
            relative = path.relative_to(runc)
            if relative.parts[0] == "DEBIAN" or path.is_dir():
                continue
            (containerd / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, containerd / relative, follow_symlinks=False)
        containerd_version = f"{_upstream(controls['containerd']['Version'])}-1"
        _write_control(containerd, {
            "Package": "containerd.io", "Version": containerd_version, "Architecture": ARCH, "Maintainer": MAINTAINER,
            "Depends": _depends(controls["containerd"].get("Depends", ""), controls["runc"].get("Depends", ""),
                                drop=("runc",)),
            "Provides": "containerd, runc", "Conflicts": "containerd, runc", "Replaces": "containerd, runc",
            **{key: controls["containerd"][key] for key in KEPT_FIELDS if key in controls["containerd"]},
            "Description": _description("An industry-standard container runtime (containerd and runc)",
                                        "containerd and runc")})
        _build(containerd, folder / f"containerd.io_{containerd_version}_{ARCH}.deb")
        # docker-ce-cli (from docker-cli, else from docker.io's docker command) and docker-ce (docker.io), in every
        # packaged version.
        engine = trees["docker.io"]
        if "docker-cli" in trees:
            cli = trees["docker-cli"]
            cli_source = "docker-cli"
        else:
            cli = work / "docker-ce-cli"
            cli_source = "docker.io"
            (cli / "DEBIAN").mkdir(parents=True)
            for relative in CLI_FILES:
                if (engine / relative).exists():
                    (cli / relative).parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(engine / relative, cli / relative)
        # Debian's recommendations of its own CLI and plugins conflict with Docker's names: docker-ce-cli stands in.
        recommends = _depends(controls["docker.io"].get("Recommends", ""), drop=("docker-cli", "docker-buildx"))
        source = controls["docker.io"]
        upstream = _upstream(source["Version"])
        for number in range(1, RELEASES + 1):
            version = f"5:{upstream}-{number}~debian.{release}~{suite}"
            file_version = version.split(":", 1)[1]
            _write_control(cli, {
                "Package": "docker-ce-cli", "Version": version, "Architecture": ARCH, "Maintainer": MAINTAINER,
                "Depends": "libc6", "Conflicts": "docker.io, docker-cli", "Replaces": "docker.io, docker-cli",
                "Section": source.get("Section", "admin"), "Priority": "optional",
                "Description": _description("Docker CLI: the open-source application container engine", cli_source)})
            _build(cli, folder / f"docker-ce-cli_{file_version}_{ARCH}.deb")
            _write_control(engine, {
                "Package": "docker-ce", "Version": version, "Architecture": ARCH, "Maintainer": MAINTAINER,
                "Depends": _depends(source.get("Depends", ""), drop=("containerd", "runc"),
                                    add=(f"containerd.io (>= {containerd_version})", "docker-ce-cli")),
                "Conflicts": "docker.io, docker-engine", "Replaces": "docker.io",
                **{key: source[key] for key in KEPT_FIELDS if key in source}, "Recommends": recommends,
                "Description": _description("Docker: the open-source application container engine", "docker.io")})
            _build(engine, folder / f"docker-ce_{file_version}_{ARCH}.deb")
    stamp.write_text(json.dumps({name: fields["Version"] for name, fields in sources.items()}, indent=2) + "\n",
                     encoding="utf-8")
    return folder


def _gpg(spec: LabSpec, *args: str, stdin: bytes | None = None) -> bytes:
    home = spec.state_dir / "docker-ce-gnupg"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    result = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--quiet", "--pinentry-mode", "loopback",
                             "--passphrase", "", *args], input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        raise LabError(f"gpg {' '.join(args)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def _signing_key(spec: LabSpec) -> str:
    uid = f"swarmforge lab {spec.name} docker-ce repository <lab@swarmforge.invalid>"
    if not _gpg(spec, "--list-secret-keys", "--with-colons").strip():
        _gpg(spec, "--quick-gen-key", uid, "ed25519", "sign", "never")
    return uid


def released(spec: LabSpec) -> int:
    marker = repo_root(spec) / "released"
    return int(marker.read_text(encoding="utf-8")) if marker.is_file() else 0


def versions(release: str) -> list[str]:
    """docker-ce's versions for a Debian release, oldest first (published or not)."""
    suite = DEBIAN_SUITES[release]
    return [f"5:{_upstream(_stamp(release)['docker.io'])}-{n}~debian.{release}~{suite}" for n in range(1, RELEASES + 1)]


def _stamp(release: str) -> dict[str, str]:
    return json.loads((build_packages(release) / "built.json").read_text(encoding="utf-8"))


def publish(spec: LabSpec, count: int) -> None:
    """Publish docker-ce's first COUNT versions (and containerd.io) for each Debian release the lab's nodes run."""
    if not 1 <= count <= RELEASES:
        raise LabError(f"the lab's docker-ce repository has {RELEASES} versions; {count} cannot be published")
    try:
        _publish(spec, count)
    finally:  # gpg starts an agent for the lab's key: none outlives the signing
        subprocess.run(["gpgconf", "--homedir", str(spec.state_dir / "docker-ce-gnupg"), "--kill", "gpg-agent"],
                       capture_output=True, check=False)


def _publish(spec: LabSpec, count: int) -> None:
    uid = _signing_key(spec)
    debian = repo_root(spec) / URL_PATH.lstrip("/") / "debian"
    debian.mkdir(parents=True, exist_ok=True)
    (debian / "gpg").write_bytes(_gpg(spec, "--armor", "--export", uid))
    for release in sorted({node.debian for node in spec.nodes}):
        suite = DEBIAN_SUITES[release]
        built = build_packages(release)
        wanted = set(versions(release)[:count])
        dist = debian / "dists" / suite
        pool = dist / "pool" / COMPONENT / ARCH
        pool.mkdir(parents=True, exist_ok=True)
        stanzas = []
        for deb in sorted(built.glob("*.deb")):
            fields = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
            control = _control(fields)
            if control["Package"] != "containerd.io" and control["Version"] not in wanted:
                continue
            target = pool / deb.name
            if not target.exists():
                shutil.copy2(deb, target)
            data = deb.read_bytes()
            stanzas.append(fields.rstrip("\n") + f"\nFilename: {target.relative_to(debian).as_posix()}\n"
                           f"Size: {len(data)}\nMD5sum: {hashlib.md5(data).hexdigest()}\n"
                           f"SHA256: {hashlib.sha256(data).hexdigest()}\n")
        index = dist / COMPONENT / f"binary-{ARCH}"
        index.mkdir(parents=True, exist_ok=True)
        packages = "\n".join(stanzas).encode()
        (index / "Packages").write_bytes(packages)
        (index / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
        lines = [f"Origin: Docker\nLabel: Docker CE\nSuite: {suite}\nCodename: {suite}\nArchitectures: {ARCH}\n"
                 f"Components: {COMPONENT}\nDescription: the swarmforge lab's docker-ce repository (Debian's docker.io "
                 f"repacked)\nDate: {formatdate(usegmt=True)}\n"]
        for algorithm, field in (("md5", "MD5Sum"), ("sha256", "SHA256")):
            lines.append(f"{field}:\n")
            for name in ("Packages", "Packages.gz"):
                data = (index / name).read_bytes()
                lines.append(f" {hashlib.new(algorithm, data).hexdigest()} {len(data):>16} "
                             f"{COMPONENT}/binary-{ARCH}/{name}\n")
        release_text = "".join(lines).encode()
        (dist / "Release").write_bytes(release_text)
        (dist / "InRelease").write_bytes(_gpg(spec, "--local-user", uid, "--clearsign", "--digest-algo", "SHA512",
                                              stdin=release_text))
        (dist / "Release.gpg").write_bytes(_gpg(spec, "--local-user", uid, "--armor", "--detach-sign",
                                                "--digest-algo", "SHA512", stdin=release_text))
    (repo_root(spec) / "released").write_text(f"{count}\n", encoding="utf-8")


def ensure_repo(spec: LabSpec) -> None:
    """At `lab up`: the repository with what it published already, else its first version."""
    publish(spec, max(released(spec), 1))


def release_next(spec: LabSpec) -> str:
    """Publish the next docker-ce version; returns it (per Debian release)."""
    count = released(spec) + 1
    if count > RELEASES:
        raise LabError(f"the lab's docker-ce repository has published all its {RELEASES} versions")
    publish(spec, count)
    return ", ".join(versions(release)[count - 1] for release in sorted({n.debian for n in spec.nodes}))
