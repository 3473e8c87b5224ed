"""Fixtures shared by the test layers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import REPO, TEST_LAB_NAME, TEST_LAB_SUBNET, lab_state  # noqa: E402


def _lab(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "lab", "--name", TEST_LAB_NAME, *args], cwd=REPO, check=True, timeout=1200)


@pytest.fixture(scope="session")
def test_lab() -> Iterator[str]:
    """The lab the end-to-end tests share. The suite runner brings it up once for all stages; a test run alone
    brings it up itself and removes it afterwards (unless SWARMFORGE_KEEP_LAB=1)."""
    created = lab_state(TEST_LAB_NAME) is None
    _lab("up", "--subnet", TEST_LAB_SUBNET)
    yield TEST_LAB_NAME
    if created and os.environ.get("SWARMFORGE_KEEP_LAB") != "1":
        _lab("down")
