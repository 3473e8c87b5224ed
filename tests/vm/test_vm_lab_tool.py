"""The lab tool's vm backend on the running VM lab: its VMs, their status, a second `up` reusing them."""

from __future__ import annotations

from pathlib import Path

from helpers import lab_cli, lab_state

from lab.spec import LabSpec
from lab.vm import process_name, vm_dir


def qemu_names() -> list[str]:
    names = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"qemu-system-x86_64") and b"-name" in argv:
            names.append(argv[argv.index(b"-name") + 1].decode().split(",")[0])
    return names


def test_one_qemu_per_node_and_status_says_running(vm_lab: str) -> None:
    spec = LabSpec(**lab_state(vm_lab))
    assert spec.backend == "vm" and [node.name for node in spec.nodes] == ["manager1", "worker1"]
    mine = sorted(name for name in qemu_names() if name.startswith(f"swarmforge-{vm_lab}-"))
    assert mine == sorted(process_name(spec, node.name) for node in spec.nodes)
    status = lab_cli(vm_lab, "status").stdout
    for node in spec.nodes:
        assert f"{node.name:<12}{node.role:<10}{node.address:<16}running" in status, status
        assert (vm_dir(spec, node) / "disk.qcow2").is_file()


def test_a_second_up_reuses_the_running_vms(vm_lab: str) -> None:
    spec = LabSpec(**lab_state(vm_lab))
    pids = {node.name: (vm_dir(spec, node) / "qemu.pid").read_text() for node in spec.nodes}
    again = lab_cli(vm_lab, "up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "created VM" not in again.stdout
    assert pids == {node.name: (vm_dir(spec, node) / "qemu.pid").read_text() for node in spec.nodes}
