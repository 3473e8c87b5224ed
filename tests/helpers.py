"""Helpers shared by the test layers: run Ansible from the repository with its ansible.cfg, read a lab."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TEST_LAB_NAME = os.environ.get("SWARMFORGE_TEST_LAB", "sftest")
TEST_LAB_SUBNET = os.environ.get("SWARMFORGE_TEST_LAB_SUBNET", "172.28.90.0/24")
# The VM lane's lab (qemu VMs: real kernels for the routing mesh, VIPs and NFS volumes).
VM_LAB_NAME = os.environ.get("SWARMFORGE_VM_LAB", "sfvm")
VM_LAB_SUBNET = os.environ.get("SWARMFORGE_VM_LAB_SUBNET", "172.28.92.0/24")
# How the suite brings each lab up (`python -m lab --name NAME up ...`).
# The e2e and lifecycle lab installs docker-ce from the lab's own repository (Docker's layout, names and signing;
# lab/dockerrepo.py): the roles' default source, and packaged versions for upgrade.yml to move between.
# Its nodes run Debian 12 (docker-ce 20.10). On Debian 13 (docker-ce 26.1) every e2e test and every lifecycle step
# passed (2026-12-03, once the daemon.json check's message was fixed), but the pair took 2188 s instead of about
# 1720 s: the suite would pass 45 minutes. Debian 13 stays in the suite through cluster-1m, cluster-1m2w's workers,
# the docker_engine scenario and the integration stages against Docker 26.1.
TEST_LAB_UP = ("--subnet", TEST_LAB_SUBNET, "--engine-source", "docker-ce", "--debian", "12")
# One manager (also serving NFS and the registry) and one worker: the tutorials' smallest cluster, on real kernels.
# Two emulated CPUs on two cores converge far faster than three. At niceness 10: the suite runs the VM lane beside the
# lifecycle (tests/run_suite.py), which then keeps the cores it needs and leaves the VMs the rest.
VM_LAB_UP = ("--backend", "vm", "--subnet", VM_LAB_SUBNET, "--managers", "1", "--workers", "1", "--nice", "10")
# The integration tests' engine: empty for this machine's own; debianNN for that Debian release's docker.io in a
# container (lab/otherengine.py), e.g. debian13 (Docker 26.1) beside a Debian 12 machine's 20.10.
OTHER_ENGINE = os.environ.get("SWARMFORGE_TEST_ENGINE", "")
RECAP_LINE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def ansible_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}")
    env.update(extra)
    return env


def run(command: list[str], timeout: float = 1800, **extra_env: str) -> subprocess.CompletedProcess[str]:
    # No terminal: a prompt (pause) must answer empty at once, never wait. PWD as a shell sets it for what it starts
    # (the status reports and preflight's inventory listing start from the directory the operator is in).
    return subprocess.run(command, cwd=REPO, env=ansible_env(PWD=str(REPO), **extra_env), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, check=False)


def playbook(path: str, inventory: str | Path, *args: str, timeout: float = 1800,
             **extra_env: str) -> subprocess.CompletedProcess[str]:
    return run([str(VENV_BIN / "ansible-playbook"), path, "-i", str(inventory), *args], timeout=timeout,
               **extra_env)


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines as {host: {ok, changed, unreachable, failed}}."""
    return {host: {"ok": int(ok), "changed": int(changed), "unreachable": int(unreachable), "failed": int(failed)}
            for host, ok, changed, unreachable, failed in RECAP_LINE.findall(output)}


def cpu_counters() -> tuple[int, int]:
    """This machine's busy and total CPU time so far (jiffies, all cores), from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def lab_cli(name: str, *args: str, timeout: float | None = 900,
            capture: bool = True) -> subprocess.CompletedProcess[str]:
    """`python -m lab --name NAME ARGS...` from the repository; capture=False lets its progress through."""
    return subprocess.run([sys.executable, "-m", "lab", "--name", name, *args], cwd=REPO, capture_output=capture,
                          text=True, timeout=timeout, check=False)


def lab_state(name: str) -> dict | None:
    state = REPO / ".lab" / name / "state.json"
    return json.loads(state.read_text(encoding="utf-8")) if state.is_file() else None


def lab_inventory(name: str) -> Path:
    """The lab's inventory folder: hosts.yml and the vault-encrypted secrets.yml (group_vars beside them)."""
    if name == "swarmforge":
        return REPO / "inventories" / "lab"
    return REPO / ".lab" / name / "inventory"


def lab_env(name: str) -> dict[str, str]:
    """What Ansible needs to run on a lab: its own fact cache (labs share host names) and its vault password. The SSH
    connect timeout is 30 s instead of 10: every lab node shares this machine's two cores with the suite's other
    stages, and a node that is down in a test refuses the connection at once (no wait for the timeout)."""
    suffix = "" if name == "swarmforge" else f"-{name}"
    return {"ANSIBLE_CACHE_PLUGIN_CONNECTION": str(REPO / ".cache" / f"facts{suffix}"),
            "ANSIBLE_VAULT_PASSWORD_FILE": str(REPO / ".lab" / name / "vault-password"),
            "ANSIBLE_TIMEOUT": "30"}


def lab_playbook(name: str, path: str, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return playbook(path, lab_inventory(name), *args, timeout=timeout, **lab_env(name))


def printed_json(completed: subprocess.CompletedProcess[str], what: str) -> dict:
    """The JSON object a command printed (from its first brace on), or a failure showing what it printed instead."""
    try:
        return json.loads(completed.stdout[completed.stdout.index("{"):])
    except ValueError as error:
        raise AssertionError(f"no JSON from {what}: {completed.stdout}\n{completed.stderr}") from error


def run_module(module: str, args: dict, *, check: bool = False, diff: bool = True, host: str = "localhost",
               inventory: str | Path | None = None, extra_vars: dict | None = None,
               env: dict[str, str] | None = None) -> dict:
    """Run one module ad hoc and return its result (the json callback keeps diff and messages). One task: Ansible's
    plain linear strategy, since Mitogen's start-up (an interpreter brought up for the run) costs more than it saves
    there (measured: 2.0-2.6 s against 3.5-4.3 s for an ad hoc ping of localhost)."""
    name = module if "." in module else f"swarmforge.swarm.{module}"  # the collection's modules by their short names
    if name.startswith("swarmforge.swarm.") and host == "localhost" and inventory is None and not extra_vars:
        return run_module_here(name.rsplit(".", 1)[1], args, check=check, diff=diff, env=env)
    command = [str(VENV_BIN / "ansible"), host, "-m", name] + (["-a", json.dumps(args)] if args else [])
    if inventory is not None:
        command += ["-i", str(inventory)]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    completed = run(command, timeout=900, ANSIBLE_STRATEGY="linear", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
                    ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.json", **(env or {}))
    report = printed_json(completed, "ansible")
    hosts = report["plays"][0]["tasks"][0]["hosts"]
    result = hosts[host] if host in hosts else next(iter(hosts.values()))
    result["_raw"] = completed.stdout
    return result


# The oldest ansible-core the collection claims (meta/runtime.yml), in a virtual environment of its own.
CORE217_REQUIREMENTS = REPO / "requirements-core217.txt"
CORE217_VENV = REPO / ".venv-core217"


@functools.cache
def core217_bin() -> Path:
    """The bin folder of .venv-core217 (ansible-core 2.17 as requirements-core217.txt pins it), made or brought up to
    date when the requirements changed (a stamp holds their hash)."""
    wanted = hashlib.sha256(CORE217_REQUIREMENTS.read_bytes()).hexdigest()
    stamp = CORE217_VENV / ".requirements-sha256"
    if not stamp.is_file() or stamp.read_text(encoding="ascii").strip() != wanted:
        for command in ([sys.executable, "-m", "venv", str(CORE217_VENV)],
                        [str(CORE217_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r",
                         str(CORE217_REQUIREMENTS)]):
            made = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
            assert made.returncode == 0, made.stdout + made.stderr
        stamp.write_text(wanted + "\n", encoding="ascii")
    return CORE217_VENV / "bin"


def run_module_here(module: str, args: dict, *, check: bool, diff: bool, env: dict[str, str] | None) -> dict:
    """One of the collection's modules run on this machine as Ansible runs it on a host: this Python, the module's
    arguments in a file with check mode and diff as Ansible passes them, its result as the JSON it prints. Without the
    ad hoc command around it, whose start costs about 1.5 s of CPU a call (0.3 s this way, measured 2026-12-03):
    the integration stages make hundreds of calls, two stages at a time. The controller's part (arguments templated,
    the module found and sent, no_log values masked in what is displayed) runs in every playbook the other stages run.
    """
    params = {**args, "_ansible_check_mode": check, "_ansible_diff": diff}
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as arguments:
        json.dump({"ANSIBLE_MODULE_ARGS": params}, arguments)
        arguments.flush()
        completed = run([sys.executable, "-m", f"ansible_collections.swarmforge.swarm.plugins.modules.{module}",
                         arguments.name], timeout=900, PYTHONPATH=str(REPO / "collections"), **(env or {}))
    result = printed_json(completed, module)
    result.setdefault("changed", False)  # as Ansible reports a result without it
    result["_raw"] = completed.stdout
    return result


# An operator's ansible.cfg, in a directory of their own, for the collection as they install it (README): the
# installed collection, and the connection and speed settings the README recommends. Nothing of this repository.
OPERATOR_CFG = """\
[defaults]
collections_path = {collections}
strategy = swarmforge.swarm.mitogen_linear
forks = 20
gathering = smart
inject_facts_as_vars = False
interpreter_python = auto_silent
callbacks_enabled = ansible.posix.profile_tasks
retry_files_enabled = False

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=120s
"""

@functools.cache
def install_collection() -> Path:
    """Build the collection from this checkout and install the artefact into a collections path of its own, once per
    test session (offline: its dependencies come with the `ansible` package, so --no-deps). Returns that path."""
    work = Path(tempfile.mkdtemp(prefix="swarmforge-collection-"))
    built = run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(work / "dist")],
                timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    artefact = next((work / "dist").glob("swarmforge-swarm-*.tar.gz"))
    # As the only collections path: the repository's own (its link to itself) would count as installed already.
    installed = run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-p",
                     str(work / "collections"), str(artefact)], timeout=300,
                    ANSIBLE_COLLECTIONS_PATH=str(work / "collections"))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return work / "collections"


class Outside:
    """A directory outside the repository with a copy of a lab's inventory (its group_vars copied, not linked) and an
    operator's ansible.cfg naming the installed collection: ansible-playbook runs there as a user's would."""

    def __init__(self, lab: str) -> None:
        self.lab = lab
        self.root = Path(tempfile.mkdtemp(prefix=f"swarmforge-operator-{lab}-"))
        (self.root / "ansible.cfg").write_text(OPERATOR_CFG.format(collections=install_collection()),
                                               encoding="utf-8")
        self.copy_inventory()

    def copy_inventory(self) -> None:
        """The lab's inventory as it is now (the lab tool rewrites hosts.yml when the lab changes)."""
        shutil.rmtree(self.root / "inventory", ignore_errors=True)
        shutil.copytree(lab_inventory(self.lab), self.root / "inventory", symlinks=False)

    def run(self, tool: str, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        """An Ansible command-line tool (ansible-playbook, ansible-doc, ...) run in this directory."""
        env = ansible_env(**lab_env(self.lab))
        env.update(ANSIBLE_CONFIG=str(self.root / "ansible.cfg"), PWD=str(self.root))
        return subprocess.run([str(VENV_BIN / tool), *args], cwd=self.root, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False)

    def playbook(self, name: str, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        return self.run("ansible-playbook", name, "-i", "inventory", *args, timeout=timeout)
