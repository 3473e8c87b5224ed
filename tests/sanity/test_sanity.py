"""ansible-test sanity and units on the built collection, installed as a user installs it (ansible-test runs only
inside an ansible_collections/<namespace>/<name> tree), with this machine's Python. The ignore file and the unit tests
ship with the tests, not with the collection: they are copied into the installed tree before the run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from helpers import REPO, VENV_BIN, ansible_env, install_collection

SANITY = REPO / "tests" / "sanity"
# What cannot run on the build machines, and why (every other sanity test of ansible-core runs).
# The pip ansible-core 2.19's ansible-test puts in its virtual environments (python_requirements.get_venv_packages).
PIP_VERSION = "24.2"
SKIPPED = {
    "pslint": "PowerShell lint: the collection has no PowerShell, and pwsh is not installed",
    "shellcheck": "the shellcheck binary is not part of the project's set-up; the collection's shell is two small "
                  "scripts the roles and the lab run on every test",
    "changelog": "the changelog is CHANGELOG.md, written by hand, not antsibull-changelog fragments",
}


def pip_bootstrap_cache() -> None:
    """ansible-test downloads a pip bootstrap script for each virtual environment it makes, from a host these
    machines cannot reach: the stand-in goes where it looks for its cached copy (see get_pip.py)."""
    cache = Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SANITY / "get_pip.py", cache / f"get_pip_{PIP_VERSION.replace('.', '_')}.py")


def ansible_test(collection: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`ansible-test ARGS` in the collection's tree, with this machine's Python; it must pass."""
    pip_bootstrap_cache()
    result = subprocess.run([str(VENV_BIN / "ansible-test"), *args, "--python", "3.11", "--color", "no"],
                            cwd=collection, env=ansible_env(), capture_output=True, text=True, timeout=1800,
                            check=False)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    return result


def test_ansible_test_sanity_passes_on_the_installed_collection() -> None:
    collection = install_collection() / "ansible_collections" / "swarmforge" / "swarm"
    (collection / "tests" / "sanity").mkdir(parents=True, exist_ok=True)
    for ignore in SANITY.glob("ignore-*.txt"):
        shutil.copyfile(ignore, collection / "tests" / "sanity" / ignore.name)
    ansible_test(collection, "sanity", *(arg for name in SKIPPED for arg in ("--skip-test", name)))


def test_ansible_test_units_pass_on_the_installed_collection(tmp_path: Path) -> None:
    """tests/unit, run by ansible-test in a virtual environment of its own (pytest, its plugins and
    tests/unit/requirements.txt from PyPI), against a copy of the installed collection."""
    shutil.copytree(install_collection(), tmp_path / "collections", symlinks=True)
    collection = tmp_path / "collections" / "ansible_collections" / "swarmforge" / "swarm"
    shutil.copytree(REPO / "tests" / "unit", collection / "tests" / "unit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    result = ansible_test(collection, "units", "--venv")
    # Each group of tests ran (ansible-test runs tests/unit/plugins/modules apart from the rest), none failed or skipped.
    summaries = [{word: int(number) for number, word in re.findall(r"(\d+) (\w+)", line)}
                 for line in re.findall(r"^=+ (\d+ passed.*) in [\d.]+s", result.stdout, re.M)]
    assert summaries, result.stdout[-4000:]
    for counts in summaries:
        assert set(counts) <= {"passed", "warning", "warnings"}, counts
    written = len(re.findall(r"^\s*def test_", "".join(
        path.read_text(encoding="utf-8") for path in (REPO / "tests" / "unit").rglob("test_*.py")), re.M))
    ran = sum(counts["passed"] for counts in summaries)
    assert ran >= written, f"{ran} tests ran, of at least {written} written"
