"""Static checks: yamllint, ansible-lint (production profile), ruff (pyproject.toml), and Python byte-compilation of our
own code."""

from __future__ import annotations

import compileall

from helpers import REPO, VENV_BIN, run


def test_yamllint_is_clean() -> None:
    result = run([str(VENV_BIN / "yamllint"), "--strict", "."], timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile_is_clean() -> None:
    result = run([str(VENV_BIN / "ansible-lint"), "--profile", "production"], timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    """The collection's plugins and the project's own Python (lab, tests, bench), with the rules pyproject.toml names."""
    result = run([str(VENV_BIN / "ruff"), "check", "--no-cache", "plugins", "lab", "tests", "bench"], timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_compiles() -> None:
    for folder in ("lab", "plugins", "tests"):
        assert compileall.compile_dir(REPO / folder, quiet=1, force=True, legacy=False), folder
