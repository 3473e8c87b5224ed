"""Run the whole test suite in layers, print each stage's duration and one pytest-style summary line.

Stages run in order: integration -> lint -> unit -> preflight -> molecule -> lab (brings up the shared container lab) -> clusters
-> e2e -> lifecycle -> vm (the VM lane: qemu VMs with real kernels, for the routing mesh, VIPs and NFS volumes). Each stage is
one pytest run whose JUnit report feeds the totals, except lifecycle, which runs in e2e's session when both run (one
converge of the lab and one no-op rerun serve both; each still counts its own tests and time). The integration stage
mostly waits on its engine's swarm (a quarter of two cores, measured): it runs in the background beside lint, unit,
molecule and the container lab's start (`lab up` and the lab stage), which touch neither that engine's swarm nor its
subnets, and is joined before the e2e stage; its output is printed when it ends. The clusters stage (the cluster
topologies' Molecule scenarios, each on a lab of its own) runs the same way beside e2e and lifecycle, which wait on
their swarm about half the time, and is joined before the VM lane. A lab is removed when the next stage
needs the other one (the VMs need every core) and at the end, unless SWARMFORGE_KEEP_LAB=1. Pass stage names to run
only those (e.g. `python tests/run_suite.py unit integration`).
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
    joined_before: str | None = None  # runs in the background until this stage (when that one runs too)
    # Runs in the same pytest session as this stage, when both run: session fixtures (the converged lab) serve both.
    session_of: str | None = None
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    exit_code: int = 0
    skip_reasons: list[str] = field(default_factory=list)


STAGES = [
    # First, so that it runs in the background beside lint, unit, molecule and the lab's start.
    Stage("integration", ["tests/integration"], joined_before="e2e"),
    Stage("lint", ["tests/lint"]),
    Stage("unit", ["tests/unit"]),
    # The preflight rules on fixture inventories (local connection): in the foreground, since the integration stage
    # beside it is the longer of the two (measured 2026-12-02: integration 695 s with them, lint to lab 479 s).
    Stage("preflight", ["tests/preflight"]),
    # Each Molecule scenario brings up and removes lab nodes of its own.
    Stage("molecule", ["tests/molecule/test_molecule.py::test_scenario"]),
    Stage("lab", ["tests/lab"], lab="containers"),
    # The other cluster topologies, in the background beside e2e and lifecycle (which mostly wait on their swarm:
    # half of two cores idle, measured); joined before the VM lane, which needs every core.
    Stage("clusters", ["tests/molecule/test_molecule.py::test_cluster_scenario"], joined_before="vm"),
    Stage("e2e", ["tests/e2e"], lab="containers"),
    # Changes the shared lab step by step (scale, remove, upgrade, recover, reset): it runs after e2e, in its session
    # (one converge of the lab, one rerun with changed=0, for both).
    Stage("lifecycle", ["tests/lifecycle"], lab="containers", session_of="e2e"),
    Stage("vm", ["tests/vm"], lab="vm"),
]


def count(stage: Stage, report: Path, folder: str | None = None) -> None:
    """Add the report's outcomes to the stage; with `folder`, only those of tests under tests/<folder>, and their
    time (JUnit's, setup included) as the stage's duration."""
    if not report.is_file():
        return
    for case in ET.parse(report).getroot().iter("testcase"):
        if folder is not None:
            if folder not in case.get("classname", "").split("."):
                continue
            stage.seconds += float(case.get("time", 0))
        outcome = {child.tag for child in case}
        if outcome & {"failure", "error"}:
            stage.failed += 1
        elif "skipped" in outcome:
            stage.skipped += 1
            reason = next(child for child in case if child.tag == "skipped").get("message", "")
            stage.skip_reasons.append(f"{case.get('name')}: {reason}")
        else:
            stage.passed += 1


def junit_seconds(report: Path) -> float:
    """The time pytest took, from its JUnit report (0 when there is none)."""
    if not report.is_file():
        return 0.0
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    return sum(float(suite.get("time", 0)) for suite in suites)


def start_stage(stage: Stage, background: bool, partners: tuple[Stage, ...] = ()
                ) -> tuple[subprocess.Popen, float, Path | None] | None:
    paths = [path for each in (stage, *partners) for path in each.paths if (REPO / path.split("::")[0]).exists()]
    if not paths:
        print(f"== stage {stage.name}: nothing to run yet", flush=True)
        return None
    report = REPORTS / f"{stage.name}.xml"
    for each in (stage, *partners):  # a partner writes into this stage's report: its own old one would mislead
        (REPORTS / f"{each.name}.xml").unlink(missing_ok=True)
    where = " (in the background)" if background else ""
    where += "".join(f", with {partner.name} in its session" for partner in partners)
    print(f"\n== stage {stage.name}{where}: pytest {' '.join(paths)}", flush=True)
    log = REPORTS / f"{stage.name}.log" if background else None
    sink = log.open("w", encoding="utf-8") if log else None
    process = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q",
                                f"--junitxml={report}", *paths], cwd=REPO, env=ansible_env(), stdout=sink,
                               stderr=subprocess.STDOUT if sink else None)
    if sink:
        sink.close()
    return process, time.monotonic(), log


def finish_stage(stage: Stage, started: tuple[subprocess.Popen, float, Path | None] | None,
                 partners: tuple[Stage, ...] = ()) -> None:
    if started is None:
        return
    process, began, log = started
    process.wait()
    stage.exit_code = process.returncode
    if log:
        print(f"\n== stage {stage.name}: its output (it ran in the background)", flush=True)
        print(log.read_text(encoding="utf-8", errors="replace"), end="", flush=True)
    report = REPORTS / f"{stage.name}.xml"
    if partners:
        # One session, several stages: each counts its own tests; the first also gets the session's own time.
        for each in (stage, *partners):
            count(each, report, folder=Path(each.paths[0]).name)
            each.exit_code = process.returncode
        stage.seconds = time.monotonic() - began - sum(partner.seconds for partner in partners)
    else:
        count(stage, report)
        stage.seconds = time.monotonic() - began
        if log:  # joined later than it ended: its own time is pytest's
            stage.seconds = min(stage.seconds, junit_seconds(report) or stage.seconds)
    if process.returncode not in (0, 5) and stage.failed + sum(partner.failed for partner in partners) == 0:
        stage.failed = 1  # pytest itself failed (collection error, crash): count it
    for each in (stage, *partners):
        print(f"== stage {each.name}: {each.passed} passed, {each.failed} failed, {each.skipped} skipped "
              f"in {each.seconds:.0f}s", flush=True)


def run_stage(stage: Stage, partners: tuple[Stage, ...] = ()) -> None:
    finish_stage(stage, start_stage(stage, background=False, partners=partners), partners)


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
    names = {stage.name for stage in stages}
    background: dict[str, tuple[Stage, object]] = {}  # stage joined before -> (stage, its process)

    def join(before: str | None) -> None:
        for key in [key for key in background if before is None or key == before]:
            stage, started = background.pop(key)
            finish_stage(stage, started)
            timings.append((f"{stage.name} (bg)", stage.seconds))

    try:
        for stage in stages:
            join(stage.name)
            if stage.joined_before in names and stages[stages.index(stage) + 1].name != stage.joined_before:
                # What both would otherwise fetch or install at once (the engine, apt packages, the node image) is
                # made first, so that the stages running together never take the package lock together.
                started = time.monotonic()
                prepared = lab_cli(LABS["containers"][0], "image", timeout=None, capture=False).returncode
                timings.append(("prepare", time.monotonic() - started))
                if prepared == 0:
                    background[stage.joined_before] = (stage, start_stage(stage, background=True))
                    continue
            if stage.lab and stage.lab != current:
                if current and not keep:
                    timed(f"{current} down", current, "down")
                name, options = LABS[stage.lab]
                print(f"\n== lab up: {name} ({stage.lab}: {' '.join(options)})", flush=True)
                if timed(f"{stage.lab} up", stage.lab, "up", *options) != 0:
                    failed_labs.add(stage.lab)
                    print("== lab up failed: the stages that need it count as failed", flush=True)
                current = stage.lab
            if stage.session_of in names:
                continue  # it ran in that stage's session
            partners = tuple(other for other in stages if other.session_of == stage.name)
            if stage.lab in failed_labs:
                for each in (stage, *partners):
                    each.failed += 1
                continue
            run_stage(stage, partners)
            timings.extend((each.name, each.seconds) for each in (stage, *partners))
        join(None)
    finally:
        for stage, started in background.values():  # the suite was interrupted
            if started:
                started[0].terminate()
        if current and not keep:
            timed(f"{current} down", current, "down")

    passed = sum(stage.passed for stage in stages)
    failed = sum(stage.failed for stage in stages)
    skipped = sum(stage.skipped for stage in stages)
    # A stage marked (bg) ran beside the ones after it: the total is the suite's wall time, not the sum.
    timings.append(("total", time.monotonic() - suite_started))
    (REPORTS / "durations.json").write_text(json.dumps(timings) + "\n", encoding="utf-8")  # for make bench
    print("\n== durations")
    for name, seconds in timings:
        print(f"   {name:<16}{seconds:7.0f}s")
    reasons = [reason for stage in stages for reason in stage.skip_reasons]
    if reasons:
        print("== skipped, with the reason")
        for reason in reasons:
            print(f"   {reason}")
    print(f"summary: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or any(stage.exit_code not in (0, 5) for stage in stages) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
