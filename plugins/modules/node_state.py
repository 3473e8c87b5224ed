#!/usr/bin/python
# Copyright: swarmforge contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_state
short_description: Whether a host already is as a role would make it, in one read-only call
description:
  - Reads, in one module call, everything a role manages on a host (packages, held packages, file contents and modes,
    managed blocks and lines, directories, services) and compares it with what the role would write.
  - Roles call it first and skip their whole chain of tasks when I(converged) is true, so a no-op rerun costs one task
    instead of dozens; any difference runs the full chain, which then shows each change in C(--check --diff).
  - It never changes anything, in check mode or not.
author: swarmforge contributors (@swarmforge)
options:
  packages:
    description: Packages that must be installed.
    type: list
    elements: str
    default: []
  held:
    description: Packages whose version must be held (C(apt-mark hold); Debian family only).
    type: list
    elements: str
    default: []
  files:
    description: Files whose whole content (and mode, when given) must be as stated.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      content:
        description: The exact content.
        type: str
        required: true
      mode:
        description: Octal mode as a string, e.g. C("0644"), or the mode bits as a number (as C(ansible.builtin.file)
          reads them).
        type: raw
  blocks:
    description: Text that must stand in a file as one contiguous run of lines (a managed block with its markers).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      block:
        description: The lines, markers included.
        type: str
        required: true
  lines:
    description: As C(ansible.builtin.lineinfile) with I(regexp) and I(line) keeps them, the last line matching
      I(regexp) must be I(line).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      regexp:
        description: Python regular expression.
        type: str
        required: true
      line:
        description: The line.
        type: str
        required: true
  absent:
    description: Paths that must not exist.
    type: list
    elements: path
    default: []
  directories:
    description: Directories that must exist (with the mode, owner and group, when given).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      mode:
        description: Octal mode as a string, or the mode bits as a number.
        type: raw
      owner:
        description: User name or numeric id.
        type: str
      group:
        description: Group name or numeric id.
        type: str
  services:
    description: systemd units and whether each must be enabled and active.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Unit name.
        type: str
        required: true
      enabled:
        description: Must be enabled (true) or not enabled (false); unset is not checked.
        type: bool
      active:
        description: Must be active (true) or not active (false); unset is not checked.
        type: bool
  kernel:
    description:
      - Kernel modules and sysctl settings, judged as the role's kernel tasks would leave them. A module counts when
        this kernel has it (C(modprobe --dry-run)); each such module must be loaded, and I(modules_file) must list
        exactly them under I(modules_header). A sysctl this host lets us write must have its value, live and as the
        last C(name=value) line of I(sysctl_file); one that is read-only here (a container) or missing from this
        kernel is only reported, in C(kernel).
    type: dict
    suboptions:
      modules:
        description: Module names.
        type: list
        elements: str
        default: []
      modules_file:
        description: The C(modules-load.d) file that lists the modules this kernel has.
        type: path
        default: /etc/modules-load.d/swarmforge.conf
      modules_header:
        description: Its first line, a comment.
        type: str
        default: "# Written by swarmforge"
      sysctls:
        description: Setting name to value.
        type: dict
        default: {}
      sysctl_file:
        description: The C(sysctl.d) file that keeps the settings across reboots.
        type: path
        default: /etc/sysctl.d/60-swarmforge.conf
  firewall:
    description:
      - Also say which firewall manages this host, in I(firewall) (C(firewalld) when its service is active, C(ufw)
        when C(ufw status) says active, else C(nftables)). Only reported, never a difference.
    type: bool
    default: false
  clock:
    description:
      - The clock must follow a time source (C(chronyc tracking) names a reference) and be at most I(max_offset)
        seconds off it. What chrony says is returned in I(clock).
    type: dict
    suboptions:
      max_offset:
        description: Seconds.
        type: float
        required: true
attributes:
  check_mode:
    support: full
    details: Read-only, so it runs the same in check mode.
    description: Compares and reports what would change, changing nothing.
  diff_mode:
    support: none
    details: It lists differences in I(differences); the tasks it lets run show the diffs.
    description: Shows what differs, before and after.
  idempotent:
    support: full
    description: Run again with the same arguments, it changes nothing.
"""

EXAMPLES = r"""
- name: Is the host already prepared
  node_state:
    packages: [chrony, nftables]
    files:
      - path: /etc/chrony/chrony.conf
        content: "{{ lookup('ansible.builtin.template', 'chrony.conf.j2') }}"
        mode: "0644"
    services:
      - {name: chrony, enabled: true, active: true}
  register: prepared
  check_mode: false

- name: Prepare it
  ansible.builtin.include_tasks: prepare.yml
  when: not prepared.converged
"""

RETURN = r"""
converged:
  description: Whether everything asked for is as stated.
  returned: always
  type: bool
kernel:
  description: What this kernel has, lacks or does not let us change (only with I(kernel)); the present modules that
    are not loaded yet and the sysctls we may write are what the kernel tasks then act on.
  returned: when kernel is given
  type: dict
  sample: {missing_modules: [ip_vs], readonly_sysctls: ["net.ipv4.ip_forward=1"], missing_sysctls: [],
           present_modules: [overlay, br_netfilter], unloaded_modules: [br_netfilter], writable_sysctls: []}
firewall:
  description: The firewall that manages this host (only with I(firewall)).
  returned: when firewall is true
  type: str
  sample: nftables
clock:
  description: What C(chronyc -c tracking) says (only with I(clock)); I(reference) is empty when chrony answers nothing.
  returned: when clock is given
  type: dict
  sample: {reference: 172.28.88.1, offset: 0.000012}
missing_packages:
  description: The packages of I(packages) that are not installed, so that an install step can be skipped when none
    is missing.
  returned: always
  type: list
  elements: str
  sample: [nftables]
unheld_packages:
  description: The packages of I(held) that are not held.
  returned: always
  type: list
  elements: str
  sample: [docker.io]
differences:
  description: One readable line per thing that differs.
  returned: always
  type: list
  elements: str
  sample: ["package nftables is not installed", "/etc/chrony/chrony.conf: content differs"]
"""

import grp
import os
import pwd
import re
import shutil
import subprocess

from ansible.module_utils.basic import AnsibleModule

ARGUMENT_SPEC = {
    "packages": {"type": "list", "elements": "str", "default": []},
    "held": {"type": "list", "elements": "str", "default": []},
    "files": {"type": "list", "elements": "dict", "default": [], "options": {
        "path": {"type": "path", "required": True},
        "content": {"type": "str", "required": True},
        "mode": {"type": "raw"},
    }},
    "blocks": {"type": "list", "elements": "dict", "default": [], "options": {
        "path": {"type": "path", "required": True},
        "block": {"type": "str", "required": True},
    }},
    "lines": {"type": "list", "elements": "dict", "default": [], "options": {
        "path": {"type": "path", "required": True},
        "regexp": {"type": "str", "required": True},
        "line": {"type": "str", "required": True},
    }},
    "absent": {"type": "list", "elements": "path", "default": []},
    "directories": {"type": "list", "elements": "dict", "default": [], "options": {
        "path": {"type": "path", "required": True},
        "mode": {"type": "raw"},
        "owner": {"type": "str"},
        "group": {"type": "str"},
    }},
    "services": {"type": "list", "elements": "dict", "default": [], "options": {
        "name": {"type": "str", "required": True},
        "enabled": {"type": "bool"},
        "active": {"type": "bool"},
    }},
    "kernel": {"type": "dict", "options": {
        "modules": {"type": "list", "elements": "str", "default": []},
        "modules_file": {"type": "path", "default": "/etc/modules-load.d/swarmforge.conf"},
        "modules_header": {"type": "str", "default": "# Written by swarmforge"},
        "sysctls": {"type": "dict", "default": {}},
        "sysctl_file": {"type": "path", "default": "/etc/sysctl.d/60-swarmforge.conf"},
    }},
    "firewall": {"type": "bool", "default": False},
    "clock": {"type": "dict", "options": {
        "max_offset": {"type": "float", "required": True},
    }},
}

# chronyc's reference when it follows nothing: no source yet, or its own local clock.
NO_REFERENCE = ("", "0.0.0.0", "127.127.1.1")


def read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def shown_mode(wanted):
    return f"{wanted:04o}" if isinstance(wanted, int) else wanted


def mode_differs(path, wanted):
    """wanted: an octal string ("0755"), or the mode bits as a number (YAML's unquoted 0755 is 493), as the file
    module reads it."""
    if wanted is None:
        return False
    bits = wanted if isinstance(wanted, int) else int(str(wanted), 8)
    return (os.stat(path).st_mode & 0o7777) != bits


def run(command):
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout


def installed_packages(names):
    """The subset of names that are installed, from one dpkg-query (or rpm) call."""
    if not names:
        return set()
    if shutil.which("dpkg-query"):
        _rc, out = run(["dpkg-query", "-W", "-f", "${Package} ${Status}\n", *names])
        return {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}
    if shutil.which("rpm"):
        _rc, out = run(["rpm", "-q", "--qf", "%{NAME}\n", *names])
        return {line.strip() for line in out.splitlines() if line.strip() in names}
    return set()


def held_packages():
    if not shutil.which("apt-mark"):
        return set()
    _rc, out = run(["apt-mark", "showhold"])
    return set(out.split())


def unit_state(name):
    _rc, enabled = run(["systemctl", "is-enabled", name])
    _rc, active = run(["systemctl", "is-active", name])
    return enabled.strip() in ("enabled", "enabled-runtime", "static", "alias"), active.strip() == "active"


def file_differences(spec):
    current = read_bytes(spec["path"])
    if current is None:
        return [f"{spec['path']}: missing"]
    found = []
    if current != spec["content"].encode():
        found.append(f"{spec['path']}: content differs")
    if mode_differs(spec["path"], spec["mode"]):
        found.append(f"{spec['path']}: mode is not {shown_mode(spec['mode'])}")
    return found


def block_differences(spec):
    current = read_bytes(spec["path"])
    if current is None:
        return [f"{spec['path']}: missing"]
    lines = current.decode(errors="replace").splitlines()
    wanted = spec["block"].rstrip("\n").splitlines()
    size = len(wanted)
    if not any(lines[start:start + size] == wanted for start in range(len(lines) - size + 1)):
        return [f"{spec['path']}: the managed block differs"]
    return []


def line_differences(spec):
    current = read_bytes(spec["path"])
    if current is None:
        return [f"{spec['path']}: missing"]
    pattern = re.compile(spec["regexp"])
    matching = [line for line in current.decode(errors="replace").splitlines() if pattern.search(line)]
    if not matching or matching[-1] != spec["line"]:
        return [f"{spec['path']}: the line matching {spec['regexp']} is not {spec['line']!r}"]
    return []


def owner_matches(wanted, current_id, lookup):
    """wanted is a name or a numeric id; a name this host does not know never matches."""
    if wanted is None:
        return True
    if str(wanted).isdigit():
        return int(wanted) == current_id
    try:
        return lookup(str(wanted)) == current_id
    except KeyError:
        return False


def directory_differences(spec):
    if not os.path.isdir(spec["path"]):
        return [f"{spec['path']}: not a directory"]
    found = []
    if mode_differs(spec["path"], spec["mode"]):
        found.append(f"{spec['path']}: mode is not {shown_mode(spec['mode'])}")
    status = os.stat(spec["path"])
    if not owner_matches(spec.get("owner"), status.st_uid, lambda name: pwd.getpwnam(name).pw_uid):
        found.append(f"{spec['path']}: owner is not {spec.get('owner')}")
    if not owner_matches(spec.get("group"), status.st_gid, lambda name: grp.getgrnam(name).gr_gid):
        found.append(f"{spec['path']}: group is not {spec.get('group')}")
    return found


def service_differences(spec):
    enabled, active = unit_state(spec["name"])
    found = []
    if spec["enabled"] is not None and enabled != spec["enabled"]:
        found.append(f"service {spec['name']} is {'' if enabled else 'not '}enabled")
    if spec["active"] is not None and active != spec["active"]:
        found.append(f"service {spec['name']} is {'' if active else 'not '}active")
    return found


def sysctl_file_values(path):
    """name -> value of the last line that sets it, as sysctl(8) reads the file."""
    values = {}
    for line in (read_bytes(path) or b"").decode(errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            name, _equals, value = line.partition("=")
            values[name.strip()] = " ".join(value.split())
    return values


def kernel_differences(spec):
    """Differences, and what the kernel lacks or keeps read-only (reported, never a difference)."""
    report = {"missing_modules": [], "readonly_sysctls": [], "missing_sysctls": [],
              "present_modules": [], "unloaded_modules": [], "writable_sysctls": []}
    found, present = [], report["present_modules"]
    modprobe = shutil.which("modprobe") or shutil.which("modprobe", path="/usr/sbin:/sbin")
    for name in spec["modules"]:
        if not modprobe or run([modprobe, "--dry-run", "--quiet", name])[0] != 0:
            report["missing_modules"].append(name)
            continue
        present.append(name)
        if not os.path.isdir(f"/sys/module/{name}"):
            report["unloaded_modules"].append(name)
            found.append(f"kernel module {name} is not loaded")
    wanted = "".join(f"{line}\n" for line in [spec["modules_header"], *present])
    if (read_bytes(spec["modules_file"]) or b"").decode(errors="replace") != wanted:
        found.append(f"{spec['modules_file']}: does not list exactly {', '.join(present) or 'no module'}")
    kept = sysctl_file_values(spec["sysctl_file"])
    for name, value in spec["sysctls"].items():
        path = "/proc/sys/" + name.replace(".", "/")
        value = " ".join(str(value).split())
        if not os.path.exists(path):
            report["missing_sysctls"].append(name)
            continue
        current = " ".join((read_bytes(path) or b"").decode(errors="replace").split())
        if not os.access(path, os.W_OK):
            report["readonly_sysctls"].append(f"{name}={current}")
            continue
        report["writable_sysctls"].append(name)
        if current != value:
            found.append(f"sysctl {name} is {current}, not {value}")
        if kept.get(name) != value:
            found.append(f"{spec['sysctl_file']}: does not set {name}={value}")
    return found, report


def active_firewall():
    """firewalld, ufw or nftables, as host_prep's firewall tasks tell them apart."""
    if run(["systemctl", "is-active", "--quiet", "firewalld"])[0] == 0:
        return "firewalld"
    ufw = shutil.which("ufw") or shutil.which("ufw", path="/usr/sbin:/sbin")
    if ufw and re.search(r"^Status: active", run([ufw, "status"])[1], re.M):
        return "ufw"
    return "nftables"


def clock_differences(spec):
    """Whether chrony follows a source within max_offset seconds, and what it says."""
    chronyc = shutil.which("chronyc")
    fields = run([chronyc, "-c", "tracking"])[1].strip().split(",") if chronyc else []
    reference = fields[1] if len(fields) > 4 else ""
    try:
        offset = abs(float(fields[4])) if len(fields) > 4 else None
    except ValueError:
        offset = None
    report = {"reference": "" if reference in NO_REFERENCE else reference, "offset": offset}
    if not report["reference"] or offset is None:
        return ["the clock follows no time source yet (chronyc tracking)"], report
    if offset > spec["max_offset"]:
        return [f"the clock is {offset}s off {reference}, more than {spec['max_offset']}s"], report
    return [], report


def differences(params, result=None):
    found = []
    if params["firewall"] and result is not None:
        result["firewall"] = active_firewall()
    if params["clock"]:
        clock_found, report = clock_differences(params["clock"])
        found += clock_found
        if result is not None:
            result["clock"] = report
    if params["kernel"]:
        kernel_found, report = kernel_differences(params["kernel"])
        found += kernel_found
        if result is not None:
            result["kernel"] = report
    installed = installed_packages(params["packages"])
    missing = [name for name in params["packages"] if name not in installed]
    found += [f"package {name} is not installed" for name in missing]
    held = held_packages() if params["held"] else set()
    unheld = [name for name in params["held"] if name not in held]
    found += [f"package {name} is not held" for name in unheld]
    if result is not None:
        result["missing_packages"] = missing
        result["unheld_packages"] = unheld
    for spec in params["files"]:
        found += file_differences(spec)
    for spec in params["blocks"]:
        found += block_differences(spec)
    for spec in params["lines"]:
        found += line_differences(spec)
    found += [f"{path}: exists" for path in params["absent"] if os.path.lexists(path)]
    for spec in params["directories"]:
        found += directory_differences(spec)
    for spec in params["services"]:
        found += service_differences(spec)
    return found


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = {}
    found = differences(module.params, result)
    module.exit_json(changed=False, converged=not found, differences=found, **result)


if __name__ == "__main__":
    main()
