"""Run the whole test suite in layers, print each stage's duration and one pytest-style summary line.

Stages run in order: integration, integration-debian13 and lint (in the background) -> unit (and unit-core217) -> lab
(brings up the shared container lab) -> e2e -> lifecycle, with two background lanes beside e2e and lifecycle:
integration-services -> molecule -> clusters, and preflight -> integration-debian13-services -> sanity -> oldest-core; and vm (the VM lane:
qemu VMs with real kernels, for the routing mesh, VIPs and NFS volumes) in the background from the lifecycle's first
step on, its VMs at a lower CPU priority (niceness 10) so that the lifecycle keeps the cores it needs. Each stage is
one pytest run whose JUnit report feeds the totals, except lifecycle, which runs in e2e's session when both run (one
converge of the lab and one no-op rerun serve both; each still counts its own tests and time). Two ansible-core
releases run: 2.19 (requirements.txt) everywhere, and 2.17, the oldest the collection claims (requirements-core217.txt,
in .venv-core217, which the suite makes), for unit-core217, both Debian 13 integration stages and oldest-core (site.yml
converged, rerun and checked on the tutorials' cluster of two Debian releases). What the container lab starts from
(its node images, application images and docker-ce packages: minutes of downloads and dpkg runs on a fresh machine) is
built in the background from the start (`python -m lab prebuild`), beside lint, unit and the integration stages.
The integration stages mostly wait on their engine's swarm (a quarter of two cores, measured): this machine's engine's
and Debian 13's docker.io's in a container (integration-debian13) run in the background beside lint, unit and the
container lab's start, which touch neither engine's swarm nor its subnets, and are joined before the e2e stage; their
output is printed when they end. The lanes' stages run one after another (the host engine's service tests, then the
Molecule scenarios: the roles', then the cluster topologies', each on lab nodes of its own; Debian 13's engine's
service tests after the preflight rules, then ansible-test sanity and units on the built collection, then oldest-core).
Letting them yield the cores to e2e and lifecycle (niced, their lab nodes at a low CPU weight) did not make those
faster (2026-12-03 22:00: 1163 s and 1333 s against 1102 s and 1227 s) and starved a scenario's node past its SSH
timeout. They are joined once the foreground stages ended. The container lab is removed at the end (the VM lane's
own session brings its lab up and removes it), unless SWARMFORGE_KEEP_LAB=1. Each foreground stage prints how busy the
machine's cores were meanwhile, each background stage when it started, and the whole run how busy the cores were in
each 5 minutes. Pass stage names to run only those (e.g. `python tests/run_suite.py unit integration`); a stage whose
partner is not selected runs in the foreground.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPORTS = REPO / ".lab" / "reports"
# Where each stage's pytest marks the first test it began under tests/<folder> (tests/conftest.py), for a background
# stage that starts with it (Stage.starts_with).
STARTED = REPORTS / "started"
sys.path.insert(0, str(REPO / "tests"))

from helpers import (  # noqa: E402 - after tests/ is on the path
    TEST_LAB_NAME,
    TEST_LAB_UP,
    VM_LAB_NAME,
    VM_LAB_UP,
    ansible_env,
    core217_bin,
    cpu_counters,
    lab_cli,
)

# The labs stages share: name, `lab up` arguments.
LABS = {"containers": (TEST_LAB_NAME, TEST_LAB_UP), "vm": (VM_LAB_NAME, VM_LAB_UP)}


@dataclass
class Stage:
    name: str
    paths: list[str]
    lab: str | None = None  # a key of LABS
    # Runs in the background until this stage (when that one runs too), or END: until the foreground stages ended
    # (when one runs after it).
    joined_before: str | None = None
    # Runs in the same pytest session as this stage, when both run: session fixtures (the converged lab) serve both.
    session_of: str | None = None
    # In the background, after this background stage ends (one lane: they would compete for the same engine or cores).
    after: str | None = None
    # In the background, once the first test under tests/<this> began (a foreground stage, possibly run in another's
    # session: the session marks it, tests/conftest.py), or once the foreground stages ended, whichever comes first.
    starts_with: str | None = None
    part_of: str | None = None  # selecting that name (e.g. `make integration`) selects this stage too
    options: list[str] = field(default_factory=list)  # more pytest arguments
    env: dict[str, str] = field(default_factory=dict)  # more environment for its pytest
    # "core217": its pytest (and so every ansible command and module it runs) with .venv-core217's Python, i.e.
    # ansible-core 2.17, the oldest release the collection claims; this environment's otherwise (2.19).
    python: str | None = None
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    exit_code: int = 0
    cpu: tuple[int, int] | None = None  # the machine's CPU counters at its start (foreground stages)
    skip_reasons: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


END = "the end of the run"  # Stage.joined_before: joined once the foreground stages ended

# The integration tests' other engine (tests/integration/conftest.py).
DEBIAN13_ENGINE = {"SWARMFORGE_TEST_ENGINE": "debian13"}
# The integration tests that deploy services and wait on them: the background lane's first stage.
INTEGRATION_SERVICES = ["tests/integration/test_swarm_stack.py", "tests/integration/test_swarm_secret_config.py"]

STAGES = [
    # First, so that it runs in the background beside lint, unit, preflight and the lab's start. Its tests that deploy
    # services and wait on their rolling updates (stacks, secrets and configs: about 515 of its 660 s, measured
    # 2026-12-02) run later, in the background beside e2e and lifecycle: the rest ends about when the lab is up, so
    # that e2e starts as soon as the lab is.
    Stage("integration", ["tests/integration"], joined_before="e2e",
          options=[f"--ignore={path}" for path in INTEGRATION_SERVICES]),
    # The same tests against Debian 13's docker.io (Docker 26.1, API 1.45) in a container (lab/otherengine.py): the
    # other end of the engines the modules support. Its own engine, so it runs beside the host engine's stage.
    # With ansible-core 2.17 (the oldest release the collection claims), so that both releases run the integration
    # tests without a third run: the newest against this machine's engine, the oldest against the newer engine.
    Stage("integration-debian13", ["tests/integration"], joined_before="e2e", part_of="integration",
          options=[f"--ignore={path}" for path in INTEGRATION_SERVICES], env=DEBIAN13_ENGINE, python="core217"),
    # In the background from the start as well, joined at the end: with the lab's images prebuilt, what e2e waits for
    # is the lab's start, not 80 s of ansible-lint and yamllint on the cores (2026-12-04 16:01, fresh machine).
    Stage("lint", ["tests/lint"], joined_before=END),
    Stage("unit", ["tests/unit"]),
    Stage("unit-core217", ["tests/unit"], part_of="unit", python="core217"),
    Stage("lab", ["tests/lab"], lab="containers"),
    # Two background lanes beside e2e and lifecycle, joined at the end of the run; each lane's stages run one after
    # another (together they would compete for the same cores). The first: the module tests that deploy services
    # on this machine's engine (they mostly wait: a quarter of two cores), beside e2e's converge and its parallel
    # check runs, which need the cores; then the Molecule scenarios (each brings up and removes lab nodes of its own),
    # the roles' and then the cluster topologies'. Measured 2026-12-02 with the scenarios first: e2e's CPU-bound parts
    # ran 2.5 times slower.
    Stage("integration-services", INTEGRATION_SERVICES, joined_before=END, after="integration",
          part_of="integration"),
    Stage("molecule", ["tests/molecule/test_molecule.py::test_scenario"], joined_before=END,
          after="integration-services"),
    Stage("clusters", ["tests/molecule/test_molecule.py::test_cluster_scenario"], joined_before=END,
          after="molecule"),
    # The second lane, once the rest of Debian 13's engine's tests ended (they share that engine: two sessions on it
    # at once saw each other's swarm and one removed it under the other, measured 2026-12-03 10:33). It mostly waits
    # on its engine's rolling updates.
    # The preflight rules on fixture inventories (local connection): they touch no engine, so they go first in this
    # lane instead of before the lab (97 s of the run's critical path, measured 2026-12-03 18:16).
    Stage("preflight", ["tests/preflight"], joined_before=END, after="integration-debian13"),
    Stage("integration-debian13-services", INTEGRATION_SERVICES, joined_before=END, after="preflight",
          part_of="integration", env=DEBIAN13_ENGINE, python="core217"),
    # ansible-test sanity and units on the built and installed collection.
    Stage("sanity", ["tests/sanity"], joined_before=END, after="integration-debian13-services"),
    # site.yml with ansible-core 2.17 on the tutorials' cluster of two Debian releases, rerun unchanged, the cluster
    # checked (in place of Molecule's cluster-1m2w, which Molecule cannot run with 2.17: the clusters stage leaves
    # that one out).
    Stage("oldest-core", ["tests/molecule/test_oldest_core.py"], joined_before=END, after="sanity",
          part_of="clusters"),
    # The VM lane (its own lab: qemu VMs with real kernels), in the background from the lifecycle's first step on:
    # the lifecycle alone leaves a third of the cores idle (56-65 % busy, 2026-12-03 22:00), and the lanes above have
    # mostly ended by then. Beside e2e as well (2026-12-03 20:57), every stage ran on saturated cores (95-99 % busy for
    # 40 minutes), e2e and lifecycle took 1557 s and 1541 s instead of 1102 s and 1227 s, and the run got longer.
    # Beside the lifecycle only (2026-12-04 02:05): the lane took 915 s and ended first, the lifecycle 1370 s, the run
    # 2777 s instead of 3264 s with the lane alone at the end. Run alone, it runs in the foreground.
    Stage("vm", ["tests/vm"], lab="vm", joined_before=END, starts_with="lifecycle"),
    Stage("e2e", ["tests/e2e"], lab="containers"),
    # Changes the shared lab step by step (scale, remove, upgrade, recover, reset): it runs after e2e, in its session
    # (one converge of the lab, one rerun with changed=0, for both).
    Stage("lifecycle", ["tests/lifecycle"], lab="containers", session_of="e2e"),
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
            stage.failures.append(f"{case.get('name')}: {failure_reason(case)}")
        elif "skipped" in outcome:
            stage.skipped += 1
            reason = next(child for child in case if child.tag == "skipped").get("message", "")
            stage.skip_reasons.append(f"{case.get('name')}: {reason}")
        else:
            stage.passed += 1


def failure_reason(case: ET.Element, width: int = 900) -> str:
    """Why a test failed, on one line: the traceback's `E` lines (the assertion and its message) — their start and
    end when long, as when they carry a playbook's output — so that the run's last screen says what broke even where
    a log shows only its head and tail."""
    element = next(child for child in case if child.tag in ("failure", "error"))
    explained = [line.strip()[1:].strip() for line in (element.text or "").splitlines() if line.strip().startswith("E ")]
    reason = " | ".join(line for line in explained if line) or " ".join((element.get("message") or "").split())
    if len(reason) > width:
        reason = f"{reason[:width // 3]} [...] {reason[-(width - width // 3):]}"
    # A playbook's output in the message: its first failed task is what to read.
    fatal = next((line for line in explained if line.startswith(("fatal:", "failed:")) or "FAILED!" in line), "")
    return f"{fatal[:width // 2]} || {reason}" if fatal else reason


def junit_seconds(report: Path) -> float:
    """The time pytest took, from its JUnit report (0 when there is none)."""
    if not report.is_file():
        return 0.0
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    return sum(float(suite.get("time", 0)) for suite in suites)


def busy_percent(since: tuple[int, int], now: tuple[int, int]) -> float:
    """How busy all of this machine's cores were between two readings of cpu_counters()."""
    return 100 * (now[0] - since[0]) / max(1, now[1] - since[1])


def cpu_busy(since: tuple[int, int]) -> str:
    """How busy all of this machine's cores were since those counters, e.g. ', cores 87% busy'."""
    return f", cores {busy_percent(since, cpu_counters()):.0f}% busy"


class CpuTimeline:
    """How busy the cores were in each interval of the run, sampled in the background: a stretch where they idle is
    room for a lane, one at 100 % a stretch that waited on them."""

    def __init__(self, interval: float = 300.0) -> None:
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        since = cpu_counters()
        while not self._stop.wait(self.interval):
            now = cpu_counters()
            self.samples.append(round(busy_percent(since, now)))
            since = now

    def line(self) -> str:
        self._stop.set()
        minutes = self.interval / 60
        return f"cores % busy per {minutes:g} minutes: " + " ".join(str(sample) for sample in self.samples)


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
    stage.cpu = None if background else cpu_counters()
    sink = log.open("w", encoding="utf-8") if log else None
    python = str(core217_bin() / "python") if stage.python == "core217" else sys.executable
    process = subprocess.Popen([python, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q",
                                f"--junitxml={report}", *stage.options, *paths], cwd=REPO,
                               env=ansible_env(SWARMFORGE_SUITE_STARTED=str(STARTED), **stage.env), stdout=sink,
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
    # How busy the cores were while a foreground stage ran (the background stages beside it included): a stage that
    # takes longer at 100 % waited on the cores, one at 50 % on something else.
    load = cpu_busy(stage.cpu) if stage.cpu else ""
    for each in (stage, *partners):
        print(f"== stage {each.name}: {each.passed} passed, {each.failed} failed, {each.skipped} skipped "
              f"in {each.seconds:.0f}s{load if each is stage else ''}", flush=True)


def run_stage(stage: Stage, partners: tuple[Stage, ...] = ()) -> None:
    finish_stage(stage, start_stage(stage, background=False, partners=partners), partners)


class BackgroundStage:
    """A stage running in the background: at once, or when the stage before it in its lane has ended."""

    def __init__(self, stage: Stage, priors: list[BackgroundStage]) -> None:
        self.stage = stage
        self._started: tuple[subprocess.Popen, float, Path | None] | None = None
        self._cancelled = threading.Event()
        self._released = threading.Event()  # the foreground stages ended: a stage waiting on a mark starts now
        if not priors and not stage.starts_with:
            self._started = start_stage(stage, background=True)
            self._thread = None
            return
        if stage.starts_with:
            print(f"\n== stage {stage.name}: in the background once the first test under tests/{stage.starts_with} "
                  "began", flush=True)
        else:
            print(f"\n== stage {stage.name}: in the background once {', '.join(p.stage.name for p in priors)} "
                  "ended", flush=True)
        self._thread = threading.Thread(target=self._after, args=(priors,), daemon=True)
        self._thread.start()

    def _after(self, priors: list[BackgroundStage]) -> None:
        for prior in priors:
            before = prior.started()
            if before is not None:
                before[0].wait()
        if self.stage.starts_with:
            mark = STARTED / self.stage.starts_with
            while not mark.exists() and not self._released.wait(1):
                pass
        if not self._cancelled.is_set():
            self._started = start_stage(self.stage, background=True)

    def release(self) -> None:
        """The foreground stages ended: it no longer waits for a test to begin."""
        self._released.set()

    def started(self) -> tuple[subprocess.Popen, float, Path | None] | None:
        """Its process (None when it had nothing to run), once started."""
        if self._thread is not None:
            self._thread.join()
        return self._started

    def cancel(self) -> None:
        """It will not start any more."""
        self._cancelled.set()
        self._released.set()

    def stop(self) -> None:
        self.cancel()
        if self._thread is not None:
            self._thread.join()
        if self._started:
            self._started[0].terminate()


def in_background(stage: Stage, stages: list[Stage]) -> bool:
    """Whether the stage runs in the background, beside the foreground stages after it: it has a partner to be
    joined before (END: any foreground stage after it), and that partner does not come right after it."""
    later = stages[stages.index(stage) + 1:]
    if stage.joined_before == END:
        return any(other.joined_before is None for other in later)
    return any(other.name == stage.joined_before for other in later[1:])


class Prebuild:
    """`python -m lab prebuild` for a lab, in the background: its output is printed when it is joined."""

    def __init__(self, lab: tuple[str, tuple[str, ...]], suite_started: float) -> None:
        self.began = time.monotonic()
        self.offset = self.began - suite_started
        self.result: subprocess.CompletedProcess[str] | None = None
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._run, args=lab, daemon=True)
        print("\n== prebuild (in the background): the container lab's images and packages", flush=True)
        self.thread.start()

    def _run(self, name: str, options: tuple[str, ...]) -> None:
        self.result = lab_cli(name, "prebuild", *options, timeout=None)
        self.seconds = time.monotonic() - self.began

    def join(self) -> tuple[str, float]:
        self.thread.join()
        print("\n== prebuild: its output (it ran in the background)", flush=True)
        if self.result is not None:
            print(self.result.stdout + self.result.stderr, end="", flush=True)
            if self.result.returncode != 0:
                print("== prebuild failed: the lab builds what is missing as it comes up", flush=True)
        return (f"prebuild (bg, from {self.offset:.0f}s)", self.seconds)


def main(selected: list[str]) -> int:
    REPORTS.mkdir(parents=True, exist_ok=True)
    STARTED.mkdir(exist_ok=True)
    for mark in STARTED.iterdir():  # an earlier run's
        mark.unlink()
    stages = [stage for stage in STAGES if not selected or stage.name in selected or stage.part_of in selected]
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
    suite_cpu = cpu_counters()
    timeline = CpuTimeline()
    names = {stage.name for stage in stages}
    background: list[BackgroundStage] = []  # in the order they started
    prepared: bool | None = None
    prebuild: Prebuild | None = None

    def join(before: str | None) -> None:
        for each in [each for each in background if before is None or each.stage.joined_before == before]:
            background.remove(each)
            started = each.started()
            finish_stage(each.stage, started)
            began = f", from {started[1] - suite_started:.0f}s" if started else ""
            timings.append((f"{each.stage.name} (bg{began})", each.stage.seconds))

    try:
        for stage in stages:
            join(stage.name)
            if in_background(stage, stages):
                if prepared is None:
                    # The engine the stages share is started first (the lab tool installs one package at a time
                    # itself: stages running together never take apt's lock together).
                    began = time.monotonic()
                    prepared = lab_cli(LABS["containers"][0], "engine", timeout=None, capture=False).returncode == 0
                    if any(each.python == "core217" for each in stages):
                        core217_bin()  # its virtual environment, made before the stages that use it start
                    timings.append(("prepare", time.monotonic() - began))
                    if prepared and "containers" in {each.lab for each in stages}:
                        # The container lab's images and packages, and the Debian 13 node image the Molecule and
                        # oldest-core labs start from, built beside lint, unit and the integration stages (on a fresh
                        # machine: downloads and dpkg runs, side by side), not while the lab's stages wait for them.
                        prebuild = Prebuild(LABS["containers"], suite_started)
                if prepared:
                    # Its lane: the stage it follows (the rest of its own stage, when they share an engine).
                    priors = [each for each in background if each.stage.name == stage.after]
                    background.append(BackgroundStage(stage, priors))
                    continue
            if stage.lab and stage.lab != current:
                # The lab before goes while the next one comes up (removing containers mostly waits on the engine,
                # booting VMs takes the cores).
                going = None
                if current and not keep:
                    going = threading.Thread(target=timed, args=(f"{current} down", current, "down"))
                    going.start()
                name, options = LABS[stage.lab]
                if prebuild and stage.lab == "containers":
                    timings.append(prebuild.join())
                    prebuild = None
                print(f"\n== lab up: {name} ({stage.lab}: {' '.join(options)})", flush=True)
                if timed(f"{stage.lab} up", stage.lab, "up", *options) != 0:
                    failed_labs.add(stage.lab)
                    print("== lab up failed: the stages that need it count as failed", flush=True)
                if going:
                    going.join()
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
        for each in background:
            each.release()
        if current and not keep:  # its lab goes before the lanes are waited for, which may still need the cores
            timed(f"{current} down", current, "down")
            current = None
        join(None)
    finally:
        for each in background:  # the suite was interrupted: none starts, then each ends
            each.cancel()
        for each in background:
            each.stop()
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
        print(f"   {name:<36}{seconds:7.0f}s")
    print(f"   (the whole run{cpu_busy(suite_cpu)}; {timeline.line()})")
    reasons = [reason for stage in stages for reason in stage.skip_reasons]
    if reasons:
        print("== skipped, with the reason")
        for reason in reasons:
            print(f"   {reason}")
    failures = [f"{stage.name}: {reason}" for stage in stages for reason in stage.failures]
    if failures:  # the first is the one to read: a lifecycle step's failure fails every step after it
        print("== failed, with the reason")
        for reason in failures:
            print(f"   {reason}")
    print(f"summary: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or any(stage.exit_code not in (0, 5) for stage in stages) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
