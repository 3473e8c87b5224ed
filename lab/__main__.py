"""swarmforge lab: bring up, tear down and list a local lab of hosts for the playbooks.

  python -m lab up [--managers 3 --workers 2 --storage 1]   create or reuse the lab, write its inventory
  python -m lab up --backend vm [--memory 1024] [--nice N]   the lab as qemu VMs (3 managers, NFS on the last one)
  python -m lab up --engine-source docker-ce                 nodes install docker-ce from the lab's own repository
  python -m lab docker-ce-release                            that repository publishes its next docker-ce version
  python -m lab status                                       nodes, roles, addresses, state
  python -m lab down                                         remove exactly what `up` made
  python -m lab image                                        build (or find cached) the node image
  python -m lab prebuild [up's options]                      build what `up` needs (images, packages), start no node
  python -m lab engine                                       make sure a Docker engine answers
  python -m lab engine --debian 13 [--remove]                another release's engine in a container (module tests)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from lab.appimages import export_app_images
from lab.backend import Backend
from lab.containers import ContainerBackend
from lab.dockerrepo import build_packages, ensure_repo, release_next
from lab.engine import ensure_engine, log
from lab.image import ensure_image
from lab.inventory import wait_for_ssh, write
from lab.otherengine import docker_host, ensure_other_engine, remove_other_engine
from lab.pki import ensure_pki
from lab.secrets import ensure_secrets, secrets_file
from lab.spec import (
    CACHE_ROOT,
    DEBIAN_SUITES,
    DEFAULT_DEBIAN,
    DEFAULT_NAME,
    DEFAULT_SUBNET,
    ENGINE_SOURCES,
    REPO_ROOT,
    STATE_ROOT,
    VM_DEBIAN,
    LabError,
    LabSpec,
)
from lab.sshkey import ensure_key
from lab.vm import VmBackend

BACKENDS: dict[str, type] = {"containers": ContainerBackend, "vm": VmBackend}
# What each backend makes when no option says otherwise. VMs are heavier: three managers, the last one also serving
# NFS and the registry.
BACKEND_DEFAULTS: dict[str, dict] = {
    "containers": {},
    "vm": {"managers": 3, "workers": 0, "storage": 0, "storage_on_manager": True},
}
OPTIONS = ("managers", "workers", "storage", "subnet", "backend", "memory", "nice", "storage_on_manager", "debian",
           "manager_debian", "engine_source")


def make_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]()
    except KeyError:
        raise LabError(f"--backend {name}: choose one of {', '.join(sorted(BACKENDS))}") from None


def load_spec(name: str) -> LabSpec | None:
    state = STATE_ROOT / name / "state.json"
    if not state.is_file():
        return None
    return LabSpec(**json.loads(state.read_text(encoding="utf-8")))


def resolve_spec(args: argparse.Namespace, saved: LabSpec | None) -> LabSpec:
    """Options given now win; otherwise the running lab's own settings (saved); otherwise the backend's defaults."""
    backend = args.backend or (saved.backend if saved else "containers")
    if saved and saved.backend == backend:
        base = saved.to_dict()
    else:
        base = {"name": args.name, "backend": backend, **BACKEND_DEFAULTS[backend]}
        if saved:
            base["subnet"] = saved.subnet
    for option in OPTIONS:
        value = getattr(args, option, None)
        if value is not None:
            base[option] = value
    return LabSpec(**base)


def cmd_up(args: argparse.Namespace) -> None:
    started = time.monotonic()
    saved = load_spec(args.name)
    spec = resolve_spec(args, saved)
    if saved and saved.backend != spec.backend:
        log(f"lab {spec.name!r} runs on {saved.backend}; removing it to bring it up on {spec.backend}")
        cmd_down(args)
    public_key = ensure_key(spec.key_path, f"swarmforge-lab-{spec.name}")
    make_backend(spec.backend).up(spec, public_key)
    spec.state_dir.mkdir(parents=True, exist_ok=True)
    (spec.state_dir / "state.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n", encoding="utf-8")
    images = export_app_images(ensure_engine(), CACHE_ROOT / "images")
    wait_for_ssh(spec)
    ensure_pki(spec)
    if spec.engine_source == "docker-ce":
        ensure_repo(spec)
    inventory = write(spec, images)
    ensure_secrets(spec)
    log(f"lab {spec.name!r} is up: {len(spec.nodes)} nodes answer SSH ({time.monotonic() - started:.0f}s); "
        f"inventory: {inventory.relative_to(REPO_ROOT) if inventory.is_relative_to(REPO_ROOT) else inventory}")


def cmd_prebuild(args: argparse.Namespace) -> None:
    """What `up` would build for this lab, built now (the suite runs it beside its first stages, so that the lab comes
    up from caches): the node image of each release (and of the default one), the application images, the docker-ce
    packages. Each is its own downloads and dpkg runs, so they are built side by side."""
    started = time.monotonic()
    spec = resolve_spec(args, load_spec(args.name))
    if spec.backend != "containers":
        raise LabError(f"prebuild builds the container lab's images: lab {spec.name!r} runs on {spec.backend}")
    releases = sorted({node.debian for node in spec.nodes})
    client = ensure_engine()
    # The default release's node image too: the other labs (Molecule's, make lab's) start from it.
    jobs = {f"node image (Debian {release})": partial(ensure_image, client, release)
            for release in sorted({*releases, DEFAULT_DEBIAN})}
    jobs["application images"] = partial(export_app_images, client, CACHE_ROOT / "images")
    if spec.engine_source == "docker-ce":
        jobs.update({f"docker-ce packages (Debian {release})": partial(build_packages, release) for release in releases})
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {what: pool.submit(job) for what, job in jobs.items()}
    errors = [f"{what}: {future.exception()}" for what, future in futures.items() if future.exception()]
    if errors:
        raise LabError("prebuild: " + "; ".join(errors))
    log(f"built or found {', '.join(jobs)} ({time.monotonic() - started:.0f}s)")


def cmd_down(args: argparse.Namespace) -> None:
    spec = load_spec(args.name) or LabSpec(name=args.name)
    removed = make_backend(spec.backend).down(spec)
    shutil.rmtree(spec.fact_cache, ignore_errors=True)
    spec.inventory_path.unlink(missing_ok=True)
    secrets_file(spec).unlink(missing_ok=True)
    if spec.state_dir.is_dir():
        shutil.rmtree(spec.state_dir)
    log(f"lab {spec.name!r} removed" + (": " + ", ".join(removed) if removed else " (nothing was up)"))


def cmd_status(args: argparse.Namespace) -> None:
    spec = load_spec(args.name)
    if spec is None:
        print(f"lab {args.name!r} is not up (run `make lab` or `python -m lab up`)")
        return
    print(f"lab {spec.name!r} ({spec.backend}, {spec.subnet})")
    print(f"{'NODE':<12}{'ROLE':<10}{'ADDRESS':<16}STATE")
    for node in make_backend(spec.backend).status(spec):
        print(f"{node.name:<12}{node.role:<10}{node.address:<16}{node.state}")


def cmd_docker_ce_release(args: argparse.Namespace) -> None:
    spec = load_spec(args.name)
    if spec is None or spec.engine_source != "docker-ce":
        raise LabError(f"lab {args.name!r} has no docker-ce repository: bring it up with --engine-source docker-ce")
    print(f"published docker-ce {release_next(spec)}")


def cmd_image(_: argparse.Namespace) -> None:
    print(ensure_image(ensure_engine(), DEFAULT_DEBIAN))


def cmd_engine(args: argparse.Namespace) -> None:
    if args.debian and args.remove:
        for item in remove_other_engine(args.debian):
            log(f"removed {item}")
        return
    if args.remove:
        raise LabError("--remove removes another release's engine: give its --debian release")
    version = (ensure_other_engine(args.debian) if args.debian else ensure_engine()).version()
    print(f"docker engine {version.get('Version')} (API {version.get('ApiVersion')})")
    if args.debian:
        print(f"DOCKER_HOST={docker_host(args.debian)}")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m lab", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("--name", default=DEFAULT_NAME, help=f"lab name (default {DEFAULT_NAME})")
    commands = root.add_subparsers(dest="command", required=True)
    options = argparse.ArgumentParser(add_help=False)  # up's, which prebuild takes too
    options.add_argument("--managers", type=int, help="manager nodes (default 3)")
    options.add_argument("--workers", type=int, help="worker nodes (default 2)")
    options.add_argument("--storage", type=int, help="storage nodes: NFS server and registry (default 1)")
    options.add_argument("--subnet", help=f"lab network (default {DEFAULT_SUBNET})")
    options.add_argument("--backend", choices=sorted(BACKENDS), help="where nodes run (default containers)")
    options.add_argument("--memory", type=int, help="MiB per VM (vm backend; default 1024)")
    options.add_argument("--nice", type=int,
                              help="the VMs' CPU priority, 0-19 as nice(1) (vm backend; default 0): higher leaves the "
                              "cores to other work first")
    options.add_argument("--storage-on-manager", action=argparse.BooleanOptionalAction, default=None,
                         help="with --storage 0, the last manager serves NFS and the registry (the vm default)")
    options.add_argument("--debian", choices=sorted(DEBIAN_SUITES),
                         help=f"Debian release of the nodes (default {DEFAULT_DEBIAN}; the vm backend runs {VM_DEBIAN})")
    options.add_argument("--manager-debian", choices=sorted(DEBIAN_SUITES),
                         help="another release for the managers: a cluster of two releases (default: --debian)")
    options.add_argument("--engine-source", choices=ENGINE_SOURCES,
                         help="distro: Debian's docker.io (default); docker-ce: Docker's package names from the lab's "
                              "own signed repository (Debian's packages repacked)")
    up = commands.add_parser("up", parents=[options], help="create or reuse the lab and write its inventory")
    up.set_defaults(func=cmd_up)
    prebuild = commands.add_parser("prebuild", parents=[options],
                                   help="build (or find cached) the node images, application images and docker-ce "
                                        "packages that up would, without starting any node")
    prebuild.set_defaults(func=cmd_prebuild)
    for name, func, text in (("down", cmd_down, "remove exactly what up made"), ("status", cmd_status, "list nodes"),
                             ("image", cmd_image, "build the node image"),
                             ("docker-ce-release", cmd_docker_ce_release,
                              "publish the next docker-ce version in the lab's repository")):
        commands.add_parser(name, help=text).set_defaults(func=func)
    engine = commands.add_parser("engine", help="ensure dockerd; with --debian, that release's engine in a container")
    engine.add_argument("--debian", choices=sorted(DEBIAN_SUITES),
                        help="run that Debian release's docker.io in a container and print its DOCKER_HOST")
    engine.add_argument("--remove", action="store_true", help="remove that container and its data")
    engine.set_defaults(func=cmd_engine)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except LabError as error:
        print(f"lab: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
