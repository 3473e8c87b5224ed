"""Make sure a Docker engine answers on this machine, installing Debian's docker.io when it can."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from pathlib import Path

import docker
from docker.errors import DockerException

from lab.spec import LabError

DOCKERD_LOG = Path("/var/log/swarmforge-dockerd.log")
# One lab tool at a time installs this machine's packages.
APT_LOCK = Path("/run/lock" if Path("/run/lock").is_dir() else "/tmp") / "swarmforge-apt.lock"
INSTALL_HINT = ("no Docker engine answers. Install Docker (Debian/Ubuntu: apt-get install docker.io; "
                "elsewhere: https://docs.docker.com/engine/install/) and start it, then run this again.")


def log(message: str) -> None:
    print(f"lab: {message}", flush=True)


def is_debian() -> bool:
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8")
    except OSError:
        return False
    return any(line in ("ID=debian", "ID_LIKE=debian") for line in text.splitlines())


def can_install_packages() -> bool:
    return is_debian() and os.geteuid() == 0 and shutil.which("apt-get") is not None


def ensure_debian_packages(packages: dict[str, str]) -> None:
    """Install each Debian package whose command (the dict value) is missing."""
    missing = [package for package, command in packages.items() if shutil.which(command) is None]
    if not missing:
        return
    if not can_install_packages():
        raise LabError(f"missing commands {sorted(packages[p] for p in missing)}: install the packages "
                       f"{' '.join(missing)} (as root on Debian: apt-get install {' '.join(missing)})")
    # The suite's stages run beside each other: one lab tool installs at a time (the lock file), and apt waits for
    # any other package manager's lock instead of failing at once.
    with APT_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [package for package, command in packages.items() if shutil.which(command) is None]
        if not missing:  # installed by the one that held the lock
            return
        log(f"installing {' '.join(missing)} from Debian's packages")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        wait = ["-o", "DPkg::Lock::Timeout=600"]
        subprocess.run(["apt-get", *wait, "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", *wait, "install", "-y", "-qq", "--no-install-recommends", *missing], check=True,
                       env=env, stdout=subprocess.DEVNULL)


def _ping() -> docker.DockerClient | None:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
        return client
    except DockerException:
        return None


def _start_dockerd() -> None:
    if Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "enable", "--now", "docker.socket", "docker.service"], check=True)
        return
    # No systemd (a container or sandbox): run dockerd detached, logging to a file.
    log(f"starting dockerd (log: {DOCKERD_LOG})")
    with DOCKERD_LOG.open("ab") as sink:
        subprocess.Popen(["dockerd"], stdout=sink, stderr=sink, stdin=subprocess.DEVNULL, start_new_session=True)


def ensure_engine(wait_seconds: int = 90) -> docker.DockerClient:
    client = _ping()
    if client is not None:
        return client
    if not can_install_packages():
        raise LabError(INSTALL_HINT)
    ensure_debian_packages({"docker.io": "dockerd", "iptables": "iptables"})
    _start_dockerd()
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        client = _ping()
        if client is not None:
            log("docker engine is up")
            return client
        time.sleep(1)
    raise LabError(f"dockerd did not answer within {wait_seconds}s; see {DOCKERD_LOG}")
