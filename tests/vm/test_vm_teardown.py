"""Last in the VM lane: `lab down` kills exactly the lab's VMs and leaves no state behind."""

from __future__ import annotations

import os

import pytest
from helpers import REPO, VM_LAB_NAME, lab_cli
from vm.test_vm_lab_tool import qemu_names


def test_down_kills_exactly_the_labs_vms(vm_lab: str) -> None:
    if os.environ.get("SWARMFORGE_KEEP_LAB") == "1":
        pytest.skip("SWARMFORGE_KEEP_LAB=1 asks to keep the VM lab, so its teardown is not exercised")
    others = [name for name in qemu_names() if not name.startswith(f"swarmforge-{VM_LAB_NAME}-")]
    down = lab_cli(vm_lab, "down")
    assert down.returncode == 0, down.stderr
    assert "VM manager1" in down.stdout
    assert [name for name in qemu_names() if name.startswith(f"swarmforge-{VM_LAB_NAME}-")] == []
    assert sorted(others) == sorted(qemu_names()), "down touched a VM that is not this lab's"
    assert not (REPO / ".lab" / VM_LAB_NAME).exists()
    assert "is not up" in lab_cli(vm_lab, "status").stdout
