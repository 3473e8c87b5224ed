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


def thread_niceness(spec: LabSpec) -> dict[str, set[int]]:
    """Each VM's qemu: the niceness of its threads (field 19 of /proc/PID/task/TID/stat)."""
    found = {}
    for node in spec.nodes:
        pid = (vm_dir(spec, node) / "qemu.pid").read_text().strip()
        found[node.name] = {int(stat.read_text().rsplit(")", 1)[1].split()[16])
                            for stat in Path(f"/proc/{pid}/task").glob("*/stat")}
    return found


def test_one_qemu_per_node_and_status_says_running(vm_lab: str) -> None:
    spec = LabSpec(**lab_state(vm_lab))
    assert spec.backend == "vm" and [node.name for node in spec.nodes] == ["manager1", "worker1"]
    mine = sorted(name for name in qemu_names() if name.startswith(f"swarmforge-{vm_lab}-"))
    assert mine == sorted(process_name(spec, node.name) for node in spec.nodes)
    status = lab_cli(vm_lab, "status").stdout
    for node in spec.nodes:
        assert f"{node.name:<12}{node.role:<10}{node.address:<16}running" in status, status
        assert (vm_dir(spec, node) / "disk.qcow2").is_file()
    # The suite's VM lab yields the cores to the lifecycle beside it (helpers.VM_LAB_UP): every qemu thread does.
    assert spec.nice == 10 and thread_niceness(spec) == {node.name: {10} for node in spec.nodes}


def test_a_second_up_reuses_the_running_vms(vm_lab: str) -> None:
    spec = LabSpec(**lab_state(vm_lab))
    pids = {node.name: (vm_dir(spec, node) / "qemu.pid").read_text() for node in spec.nodes}
    again = lab_cli(vm_lab, "up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "created VM" not in again.stdout
    assert pids == {node.name: (vm_dir(spec, node) / "qemu.pid").read_text() for node in spec.nodes}
    # Another niceness given to running VMs: each of their threads takes it, and the lab keeps it.
    for nice in (12, spec.nice):
        renice = lab_cli(vm_lab, "up", "--nice", str(nice))
        assert renice.returncode == 0, renice.stdout + renice.stderr
        assert thread_niceness(spec) == {node.name: {nice} for node in spec.nodes}
        assert lab_state(vm_lab)["nice"] == nice
