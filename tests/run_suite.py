"""Run the whole test suite in layers, print each stage's duration and one pytest-style summary line.

Stages run in order: lint -> unit -> integration -> molecule -> lab (brings up the shared container lab) -> e2e ->
lifecycle -> vm (the VM lane: qemu VMs with real kernels, for the routing mesh, VIPs and NFS volumes). Each stage is
one pytest run whose JUnit report feeds the totals. A lab is removed when the next stage needs the other one (the
VMs need every core) and at the end, unless SWARMFORGE_KEEP_LAB=1. Pass stage names to run only those (e.g.
`python tests/run_suite.py unit integration`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPORTS = REPO / ".lab" / "reports"
sys.path.insert(0, str(REPO / "tests"))

from helpers import TEST_LAB_NAME, TEST_LAB_UP, VM_LAB_NAME, VM_LAB_UP, ansible_env, lab_cli  # noqa: E402

# The labs stages share: name, `lab up` arguments.
LABS = {"containers": (TEST_LAB_NAME, TEST_LAB_UP), "vm": (VM_LAB_NAME, VM_LAB_UP)}


@dataclass
class Stage:
    name: str
    paths: list[str]
    lab: str | None = None  # a key of LABS
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    exit_code: int = 0
    skip_reasons: list[str] = field(default_factory=list)


STAGES = [
    Stage("lint", ["tests/lint"]),
    Stage("unit", ["tests/unit"]),
    Stage("integration", ["tests/integration", "tests/preflight"]),
    # Each Molecule scenario brings up and removes lab nodes of its own.
    Stage("molecule", ["tests/molecule"]),
    Stage("lab", ["tests/lab"], lab="containers"),
    Stage("e2e", ["tests/e2e"], lab="containers"),
    # Changes the shared lab step by step (scale, remove, upgrade, recover, reset): it runs after e2e.
    Stage("lifecycle", ["tests/lifecycle"], lab="containers"),
    Stage("vm", ["tests/vm"], lab="vm"),
]


def count(stage: Stage, report: Path) -> None:
    if not report.is_file():
        return
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome = {child.tag for child in case}
        if outcome & {"failure", "error"}:
            stage.failed += 1
        elif "skipped" in outcome:
            stage.skipped += 1
            reason = next(child for child in case if child.tag == "skipped").get("message", "")
            stage.skip_reasons.append(f"{case.get('name')}: {reason}")
        else:
            stage.passed += 1


def run_stage(stage: Stage) -> None:
    paths = [path for path in stage.paths if (REPO / path).exists()]
    if not paths:
        print(f"== stage {stage.name}: nothing to run yet", flush=True)
        return
    report = REPORTS / f"{stage.name}.xml"
    report.unlink(missing_ok=True)
    print(f"\n== stage {stage.name}: pytest {' '.join(paths)}", flush=True)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q",
                             f"--junitxml={report}", *paths], cwd=REPO, env=ansible_env(), check=False)
    stage.seconds = time.monotonic() - started
    stage.exit_code = result.returncode
    count(stage, report)
    if result.returncode not in (0, 5) and stage.failed == 0:
        stage.failed = 1  # pytest itself failed (collection error, crash): count it
    print(f"== stage {stage.name}: {stage.passed} passed, {stage.failed} failed, {stage.skipped} skipped "
          f"in {stage.seconds:.0f}s", flush=True)


def main(selected: list[str]) -> int:
    REPORTS.mkdir(parents=True, exist_ok=True)
    stages = [stage for stage in STAGES if not selected or stage.name in selected]
    timings: list[tuple[str, float]] = []
    failed_labs: set[str] = set()
    current: str | None = None  # the lab that is up
    keep = os.environ.get("SWARMFORGE_KEEP_LAB") == "1"

    def timed(label: str, kind: str, *args: str) -> int:
        started = time.monotonic()
        code = lab_cli(LABS[kind][0], *args, timeout=None, capture=False).returncode
        timings.append((label, time.monotonic() - started))
        return code

    suite_started = time.monotonic()
    try:
        for stage in stages:
            if stage.lab and stage.lab != current:
                if current and not keep:
                    timed(f"{current} down", current, "down")
                name, options = LABS[stage.lab]
                print(f"\n== lab up: {name} ({stage.lab}: {' '.join(options)})", flush=True)
                if timed(f"{stage.lab} up", stage.lab, "up", *options) != 0:
                    failed_labs.add(stage.lab)
                    print("== lab up failed: the stages that need it count as failed", flush=True)
                current = stage.lab
            if stage.lab in failed_labs:
                stage.failed += 1
                continue
            run_stage(stage)
            timings.append((stage.name, stage.seconds))
    finally:
        if current and not keep:
            timed(f"{current} down", current, "down")

    passed = sum(stage.passed for stage in stages)
    failed = sum(stage.failed for stage in stages)
    skipped = sum(stage.skipped for stage in stages)
    (REPORTS / "durations.json").write_text(json.dumps(timings) + "\n", encoding="utf-8")  # for make bench
    print("\n== durations")
    for name, seconds in timings:
        print(f"   {name:<14}{seconds:7.0f}s")
    print(f"   {'total':<14}{time.monotonic() - suite_started:7.0f}s")
    reasons = [reason for stage in stages for reason in stage.skip_reasons]
    if reasons:
        print("== skipped, with the reason")
        for reason in reasons:
            print(f"   {reason}")
    print(f"summary: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or any(stage.exit_code not in (0, 5) for stage in stages) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
