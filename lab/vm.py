"""Lab nodes as qemu VMs: real Debian kernels, so IPVS (routing mesh, VIPs) and NFS work where containers cannot.

No root-only networking and no host bridge. Each VM has two NICs:
- user mode (`restrict=on`: the VM reaches nothing outside): SSH and the published ports forwarded from 127.0.0.1,
  and the host's apt cache reachable at 10.0.2.100:3142 through a guestfwd;
- the lab network, a multicast socket on loopback shared by the lab's VMs, with the static addresses of the lab
  subnet (set at boot from the VM's seed disk, see node-image/customize-vm.sh).
KVM is used when booting a kernel with it actually works; otherwise software emulation (TCG), one CPU per VM.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from lab import aptproxy
from lab.backend import NodeStatus
from lab.engine import ensure_debian_packages, log
from lab.spec import CACHE_ROOT, VM_FORWARDED_PORTS, LabError, LabSpec, Node
from lab.vmimage import VM_CACHE, VmImage, ensure_vm_image

QEMU = "qemu-system-x86_64"
APT_CACHE_DIR = CACHE_ROOT / "apt"
GUEST_APT_PROXY = ("10.0.2.100", 3142)
ACCEL_ENV = "SWARMFORGE_VM_ACCEL"  # kvm | tcg: skip the probe
KVM_PROBE_SECONDS = 30


def vm_dir(spec: LabSpec, node: Node) -> Path:
    return spec.state_dir / "vm" / node.name


def process_name(spec: LabSpec, node_name: str) -> str:
    """The qemu -name of a node: also how teardown makes sure a PID is still the VM it started."""
    return f"swarmforge-{spec.name}-{node_name}"


def _mac(node: Node, nic: int) -> str:
    octets = ipaddress.ip_address(node.address).packed
    return f"52:54:{nic:02x}:{octets[1]:02x}:{octets[2]:02x}:{octets[3]:02x}"


def _pid_of(folder: Path, name: str) -> int | None:
    """The PID in folder/qemu.pid if that process is still the qemu named `name`, else None."""
    try:
        pid = int((folder / "qemu.pid").read_text(encoding="utf-8").strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if f"{name},process={name}".encode() in cmdline else None


def _renice(pid: int, nice: int) -> None:
    """Every thread of the process at that niceness (Linux keeps one per thread: qemu's emulated CPU is a thread)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.setpriority(os.PRIO_PROCESS, int(task.name), nice)


def _kill(pid: int) -> None:
    """VMs are killed, not powered off: a clean poweroff with NFS mounts can hang for minutes, and the disks are
    throw-away overlays."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)


def kvm_works(image: VmImage) -> bool:
    """Boot the lab kernel once with KVM: it finds no root file system and panics, and with -no-reboot qemu exits.
    Where nested KVM hangs, the probe times out. The answer is kept for this boot of the machine."""
    forced = os.environ.get(ACCEL_ENV, "")
    if forced in ("kvm", "tcg"):
        return forced == "kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="utf-8").strip()
    cached = VM_CACHE / "kvm-probe"
    if cached.is_file():
        seen_boot, _, answer = cached.read_text(encoding="utf-8").strip().partition(" ")
        if seen_boot == boot_id:
            return answer == "kvm"
    command = [QEMU, "-accel", "kvm", "-cpu", "host", "-m", "256", "-nodefaults", "-display", "none", "-no-reboot",
               "-kernel", str(image.kernel), "-append", "console=ttyS0 panic=-1", "-serial", "null"]
    try:
        works = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=KVM_PROBE_SECONDS, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        works = False
    VM_CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(f"{boot_id} {'kvm' if works else 'tcg'}\n", encoding="utf-8")
    return works


class VmBackend:
    name = "vm"

    # -- up -------------------------------------------------------------------------------------------------
    def up(self, spec: LabSpec, public_key: str) -> None:
        ensure_debian_packages({"qemu-system-x86": QEMU, "qemu-utils": "qemu-img", "socat": "socat",
                                "e2fsprogs": "mke2fs", "openssh-client": "ssh"})
        image = ensure_vm_image()
        apt_port = spec.port_base
        aptproxy.start_daemon("127.0.0.1", apt_port, APT_CACHE_DIR,
                              spec.state_dir / "aptproxy.pid", spec.state_dir / "aptproxy.log")
        kvm = kvm_works(image)
        log("VMs run with " + ("KVM" if kvm else "software emulation (TCG; KVM is absent or does not boot here): "
                               "allow a few minutes"))
        wanted = {node.name for node in spec.nodes}
        for folder in sorted((spec.state_dir / "vm").glob("*")):
            if folder.name not in wanted:
                log(f"removing VM {folder.name}: the lab spec no longer has it")
                self._remove(spec, folder)
        for node in spec.nodes:
            self._ensure_vm(spec, node, image, kvm, public_key, apt_port)

    def _remove(self, spec: LabSpec, folder: Path) -> None:
        pid = _pid_of(folder, process_name(spec, folder.name))
        if pid is not None:
            _kill(pid)
        shutil.rmtree(folder, ignore_errors=True)

    def _ensure_vm(self, spec: LabSpec, node: Node, image: VmImage, kvm: bool, public_key: str,
                   apt_port: int) -> None:
        folder = vm_dir(spec, node)
        name = process_name(spec, node.name)
        stamp = folder / "image"
        if folder.is_dir() and (not stamp.is_file() or stamp.read_text(encoding="utf-8") != image.folder.name):
            log(f"VM {node.name} was made from an older image; recreating it")
            self._remove(spec, folder)
        running = _pid_of(folder, name)
        if running is not None:
            _renice(running, spec.nice)  # the lab's setting now, for every thread (the emulated CPU has its own)
            return
        if not (folder / "disk.qcow2").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image.disk),
                            str(folder / "disk.qcow2")], check=True)
            self._write_seed(spec, node, public_key, folder / "seed.img")
            stamp.write_text(image.folder.name, encoding="utf-8")
            log(f"created VM {node.name} ({node.role}, {node.address}, SSH on 127.0.0.1:{spec.ssh_endpoint(node)[1]})")
        command = self._command(spec, node, image, kvm, apt_port, folder)
        (folder / "command").write_text(" ".join(command) + "\n", encoding="utf-8")
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            raise LabError(f"qemu did not start VM {node.name}: {result.stdout.decode(errors='replace').strip()}")

    def _write_seed(self, spec: LabSpec, node: Node, public_key: str, target: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="swarmforge-seed-") as workdir:
            seed = Path(workdir)
            (seed / "authorized_keys").write_text(public_key + "\n", encoding="utf-8")
            (seed / "node.env").write_text(
                f"NODE_NAME={node.name}\n"
                f"USER_MAC={_mac(node, 1)}\n"
                f"LAB_MAC={_mac(node, 2)}\n"
                f"LAB_ADDRESS={node.address}/{spec.prefixlen}\n"
                f"LAB_GATEWAY={spec.gateway}\n"
                f"APT_PROXY=http://{GUEST_APT_PROXY[0]}:{GUEST_APT_PROXY[1]}\n", encoding="utf-8")
            target.unlink(missing_ok=True)
            target.touch()  # mke2fs says "Creating regular file" otherwise, even with -q
            subprocess.run(["mke2fs", "-q", "-t", "ext2", "-L", "sfseed", "-d", str(seed), str(target), "1M"],
                           check=True)

    def _command(self, spec: LabSpec, node: Node, image: VmImage, kvm: bool, apt_port: int,
                 folder: Path) -> list[str]:
        name = process_name(spec, node.name)
        ssh_host, ssh_port = spec.ssh_endpoint(node)
        forwards = [f"hostfwd=tcp:{ssh_host}:{ssh_port}-:22"]
        for port in VM_FORWARDED_PORTS:
            host, host_port = spec.published_endpoint(node, port)
            forwards.append(f"hostfwd=tcp:{host}:{host_port}-:{port}")
        # Each connection the VM opens to 10.0.2.100:3142 runs socat, which carries it to the host's apt cache.
        forwards.append(f"guestfwd=tcp:{GUEST_APT_PROXY[0]}:{GUEST_APT_PROXY[1]}-cmd:socat - TCP:127.0.0.1:{apt_port}")
        group = f"239.255.{ipaddress.ip_network(spec.subnet).network_address.packed[2]}.1"
        # A clean -cpu for TCG; `max` offers the newest instructions qemu emulates.
        accel = ["-accel", "kvm", "-cpu", "host"] if kvm else ["-accel", "tcg", "-cpu", "max"]
        return [
            *(["nice", "-n", str(spec.nice)] if spec.nice else []),
            QEMU, "-name", f"{name},process={name}", *accel, "-smp", "1", "-m", str(spec.memory),
            "-nodefaults", "-display", "none", "-daemonize", "-pidfile", str(folder / "qemu.pid"),
            "-serial", f"file:{folder / 'console.log'}",
            "-kernel", str(image.kernel), "-initrd", str(image.initrd),
            # The lab trusts its VMs' kernels: no speculative-execution mitigations (their cost is large under TCG).
            "-append", "root=/dev/vda rw console=ttyS0 panic=-1 mitigations=off quiet",
            "-drive", f"file={folder / 'disk.qcow2'},if=virtio,format=qcow2,cache=unsafe,discard=unmap",
            "-drive", f"file={folder / 'seed.img'},if=virtio,format=raw,readonly=on",
            "-netdev", f"user,id=user,restrict=on,{','.join(forwards)}",
            "-device", f"virtio-net-pci,netdev=user,mac={_mac(node, 1)}",
            "-netdev", f"socket,id=lab,mcast={group}:{spec.port_base},localaddr=127.0.0.1",
            "-device", f"virtio-net-pci,netdev=lab,mac={_mac(node, 2)}",
            "-object", "rng-random,filename=/dev/urandom,id=rng", "-device", "virtio-rng-pci,rng=rng",
        ]

    # -- down / status ------------------------------------------------------------------------------------
    def down(self, spec: LabSpec) -> list[str]:
        removed = []
        for folder in sorted((spec.state_dir / "vm").glob("*")):
            self._remove(spec, folder)
            removed.append(f"VM {folder.name}")
        aptproxy.stop_daemon(spec.state_dir / "aptproxy.pid")
        return removed

    def status(self, spec: LabSpec) -> list[NodeStatus]:
        result = []
        for node in spec.nodes:
            folder = vm_dir(spec, node)
            state = "running" if _pid_of(folder, process_name(spec, node.name)) is not None else "stopped" if folder.is_dir() else "missing"
            result.append(NodeStatus(node.name, node.role, node.address, state))
        return result
