"""make bench: site.yml against the project's own shell floor (bench/floor.sh), on fresh lab nodes, in one run.

Sections (all by default; name some to run only those, e.g. `python bench/run.py floor rerun`):
  floor   a. the shell floor vs site.yml up to swarm_networks, each on freshly made nodes (6 hosts)
  full    b. the whole fresh site.yml (registry, NFS, volumes, stacks), per play
  rerun   c. a no-op rerun of site.yml (changed=0 asserted), as a fraction of b, once every service of b runs
  scale   d. scale.yml adding one worker vs the floor joining one worker
  hosts   e. site.yml up to swarm_networks and the floor on 4 and 12 hosts (6 comes from a)
  suite   f. each `make test` stage's duration, from the suite's last reports (.lab/reports)
BENCH_RUNS=N repeats the floor and hosts sections N times (hosts alternating 4 and 12) and prints medians, with
each run's ratio as min/median/max; SWARMFORGE_KEEP_LAB=1 keeps the last lab up.

Every lab is made fresh (down, then up) on its own network, with the lab's warm apt cache and node image: the
figures compare the same work on the same kind of nodes in the same run. Results go to .lab/bench/bench.md and
bench.json (ratios first, seconds beside them); each playbook's output, with its slowest tasks, to .lab/bench/*.log.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from helpers import cpu_counters, lab_cli, lab_inventory, lab_playbook, recap  # noqa: E402 - after the path is set

from lab.__main__ import load_spec  # noqa: E402 - after the path is set
from lab.spec import LAB_USER  # noqa: E402 - after the path is set

LAB = os.environ.get("SWARMFORGE_BENCH_LAB", "sfbench")
SUBNET = os.environ.get("SWARMFORGE_BENCH_SUBNET", "172.28.97.0/24")
OUT = REPO / ".lab" / "bench"
UP_TO_NETWORKS = "host_prep,docker_engine,swarm,swarm_networks"
# Topologies by host count: (managers, workers, storage).
TOPOLOGIES = {4: (1, 2, 1), 6: (3, 2, 1), 12: (3, 8, 1)}
# The figures since the first bench were measured on Debian 12 nodes (docker.io 20.10); the lab's default is now
# Debian 13. SWARMFORGE_BENCH_DEBIAN=13 measures that instead.
DEBIAN = os.environ.get("SWARMFORGE_BENCH_DEBIAN", "12")
SECTIONS = ("floor", "full", "rerun", "scale", "hosts", "suite")
ELAPSED = re.compile(r"\)\s+(\d+):(\d+):(\d+(?:\.\d+)?)\s+\*+\s*$")


@dataclass
class Results:
    rows: list[dict] = field(default_factory=list)  # {figure, ratio, seconds, against}
    plays: list[tuple[str, float]] = field(default_factory=list)
    stages: list[tuple[str, float]] = field(default_factory=list)

    def add(self, figure: str, seconds: float, against: float | None = None, note: str = "") -> None:
        ratio = seconds / against if against else None
        self.rows.append({"figure": figure, "seconds": round(seconds, 1), "ratio": round(ratio, 2) if ratio else None,
                          "against_seconds": round(against, 1) if against else None, "note": note})
        shown = f"{ratio:5.2f}x  " if ratio else "        "
        print(f"bench: {shown}{seconds:7.1f}s  {figure}" + (f"  ({note})" if note else ""), flush=True)


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


def fresh_lab(hosts: int) -> None:
    managers, workers, storage = TOPOLOGIES[hosts]
    lab_cli(LAB, "down", timeout=600)
    done = lab_cli(LAB, "up", "--subnet", SUBNET, "--managers", str(managers), "--workers", str(workers),
                   "--storage", str(storage), "--debian", DEBIAN, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"bench: lab up failed:\n{done.stdout}\n{done.stderr}")


def grow(workers: int) -> None:
    """The running bench lab gets more workers (fresh nodes), its other settings kept."""
    done = lab_cli(LAB, "up", "--workers", str(workers), timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"bench: lab up --workers {workers} failed:\n{done.stdout}\n{done.stderr}")


def hosts_file() -> Path:
    spec = load_spec(LAB)
    path = spec.state_dir / "bench-hosts"
    path.write_text("".join(f"{node.name} {node.role} {node.address}\n" for node in spec.nodes), encoding="utf-8")
    return path


def floor(*joining: str) -> float:
    """The shell floor on the bench lab: every host from scratch, or with names only those hosts, joined."""
    spec = load_spec(LAB)
    command = ["bash", str(REPO / "bench" / "floor.sh"), str(hosts_file()), str(spec.key_path)]
    if joining:
        command += ["join", *joining]
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False, timeout=3600)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"bench: the floor failed:\n{done.stdout}\n{done.stderr}")
    for line in done.stdout.splitlines():
        log(f"  {line}")
    return seconds


def playbook(path: str, *args: str, label: str | None = None) -> tuple[float, str]:
    """Run a playbook on the bench lab; its output (profile_tasks ends it with the slowest tasks) is kept in
    .lab/bench/<label>.log."""
    started = time.monotonic()
    done = lab_playbook(LAB, path, *args, timeout=3600)
    seconds = time.monotonic() - started
    if label:
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"{label}.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    failed = [host for host, counts in recap(done.stdout).items() if counts["failed"] or counts["unreachable"]]
    if done.returncode != 0 or failed:
        raise SystemExit(f"bench: {path} {' '.join(args)} failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def settle(timeout: float = 300) -> float:
    """Wait until every service of the fresh lab runs all its replicas (tasks still start after site.yml returns:
    images pulled from the registry, databases initialised), so that the rerun measures site.yml rather than the
    nodes' start-up beside it. Returns the seconds waited."""
    spec = load_spec(LAB)
    manager = next(node for node in spec.nodes if node.role == "manager")
    command = ["ssh", "-i", str(spec.key_path), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"{LAB_USER}@{manager.address}",
               "sudo -n docker service ls --format '{{.Replicas}}'"]
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
        replicas = [line.split()[0].split("/") for line in done.stdout.splitlines() if line.strip()]
        if done.returncode == 0 and replicas and all(running == wanted for running, wanted in replicas):
            return time.monotonic() - started
        time.sleep(2)
    raise SystemExit(f"bench: the lab's services did not all run their replicas within {timeout:.0f}s")


def changed(output: str) -> int:
    return sum(counts["changed"] for counts in recap(output).values())


def play_times(output: str) -> list[tuple[str, float]]:
    """Each play's share of a run, from profile_tasks' running total printed under every task."""
    marks: list[tuple[str, float]] = []
    play = None
    last = 0.0
    for line in output.splitlines():
        if line.startswith("PLAY [") and not line.startswith("PLAY RECAP"):
            play = line[6:line.index("]")]
            marks.append((play, -1.0))
        match = ELAPSED.search(line)
        if match:
            hours, minutes, seconds = match.groups()
            last = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            if marks and marks[-1][1] < 0:
                marks[-1] = (marks[-1][0], last)
    starts = [(name, start) for name, start in marks if start >= 0]
    totals: dict[str, float] = {}
    for (name, start), (_, end) in zip(starts, starts[1:] + [("", last)], strict=False):
        totals[name] = totals.get(name, 0.0) + end - start
    return list(totals.items())


def busy_cpu_seconds() -> float:
    """CPU time this machine has spent busy (all cores, every process: the lab nodes, the controller, the apt cache)."""
    return cpu_counters()[0] / os.sysconf("SC_CLK_TCK")


@dataclass
class Pair:
    """The floor and site.yml on one size of fresh lab: wall seconds, and the machine's busy CPU seconds during each."""
    floor: float
    site: float
    floor_cpu: float
    site_cpu: float


def section_floor(hosts: int = 6) -> Pair:
    fresh_lab(hosts)
    cpu = busy_cpu_seconds()
    floor_seconds = floor()
    floor_cpu = busy_cpu_seconds() - cpu
    fresh_lab(hosts)
    cpu = busy_cpu_seconds()
    site_seconds, _ = playbook("site.yml", "--tags", UP_TO_NETWORKS, label=f"site-to-networks-{hosts}")
    return Pair(floor_seconds, site_seconds, floor_cpu, busy_cpu_seconds() - cpu)


def summary(values: list[float], digits: int = 1) -> str:
    return (f"min {min(values):.{digits}f} / median {statistics.median(values):.{digits}f}"
            f" / max {max(values):.{digits}f}")


def add_pairs(results: Results, hosts: int, pairs: list[Pair], floor_figure: str) -> None:
    """The floor and site.yml on `hosts` hosts: medians, and with several runs each run's ratio (from the same run's
    two labs) summarised beside them. The machine's busy CPU seconds go beside: when every core is busy (the lab's
    nodes share them), the time ratio is the ratio of work done."""
    floor = statistics.median(pair.floor for pair in pairs)
    site = statistics.median(pair.site for pair in pairs)
    floor_cpu = statistics.median(pair.floor_cpu for pair in pairs)
    site_cpu = statistics.median(pair.site_cpu for pair in pairs)
    cores = os.cpu_count() or 1
    note = (f"busy CPU {site_cpu:.0f} s vs {floor_cpu:.0f} s, {site_cpu / floor_cpu:.2f}x; cores busy"
            f" {100 * site_cpu / cores / site:.0f} % vs {100 * floor_cpu / cores / floor:.0f} %")
    if len(pairs) > 1:
        note = f"{len(pairs)} runs; ratio {summary([pair.site / pair.floor for pair in pairs], 2)}; {note}"
    results.add(f"{hosts} hosts: {floor_figure}", floor)
    results.add(f"{hosts} hosts: site.yml up to swarm_networks, vs the floor", site, floor, note)


def run(sections: list[str]) -> Results:
    results = Results()
    runs = int(os.environ.get("BENCH_RUNS", "1"))
    if "floor" in sections:
        add_pairs(results, 6, [section_floor() for _ in range(runs)],
                  "shell floor (host prep, engine, swarm, network)")
    if {"full", "rerun"} & set(sections):
        fresh_lab(6)
        full_seconds, output = playbook("site.yml", label="site-fresh")
        results.plays = play_times(output)
        results.add("6 hosts: whole fresh site.yml (registry, NFS, volumes, 3 stacks)", full_seconds)
        if "rerun" in sections:
            log(f"every service runs all its replicas {settle():.0f}s after site.yml returned; the rerun starts")
            rerun_seconds, output = playbook("site.yml", label="site-rerun")
            count = changed(output)
            if count:
                raise SystemExit(f"bench: the rerun changed {count} things; it must change none:\n{output[-6000:]}")
            results.add("6 hosts: no-op rerun of site.yml (changed=0), vs the fresh run", rerun_seconds, full_seconds)
    if "scale" in sections:
        workers = TOPOLOGIES[6][1]
        fresh_lab(6)
        floor()
        grow(workers + 1)
        floor_join = floor(f"worker{workers + 1}")
        fresh_lab(6)
        playbook("site.yml", "--tags", UP_TO_NETWORKS)
        grow(workers + 1)
        scale_seconds, _ = playbook("scale.yml", "--tags", UP_TO_NETWORKS, label="scale")
        results.add("scale out by one worker: shell floor", floor_join)
        results.add("scale out by one worker: scale.yml, vs the floor", scale_seconds, floor_join)
    if "hosts" in sections:
        # Runs interleave (4, 12, 4, 12, ...) so that a slow spell of this shared machine weighs on both sizes.
        pairs: dict[int, list[Pair]] = {4: [], 12: []}
        for _ in range(runs):
            for hosts, done in pairs.items():
                done.append(section_floor(hosts))
        for hosts, done in pairs.items():
            add_pairs(results, hosts, done, "shell floor")
    if "suite" in sections:
        results.stages = suite_stages()
    if {"floor", "full", "rerun", "scale", "hosts"} & set(sections) and os.environ.get("SWARMFORGE_KEEP_LAB") != "1":
        lab_cli(LAB, "down", timeout=600)
    return results


def suite_stages() -> list[tuple[str, float]]:
    durations = REPO / ".lab" / "reports" / "durations.json"
    if durations.is_file():
        return [(name, seconds) for name, seconds in json.loads(durations.read_text(encoding="utf-8"))]
    stages = []
    for report in sorted((REPO / ".lab" / "reports").glob("*.xml")):
        root = ET.parse(report).getroot()
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        stages.append((report.stem, sum(float(suite.get("time", 0)) for suite in suites)))
    return stages


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    memory = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))) // (1024 * 1024)
    return f"{os.cpu_count()} cores ({cpu}), {memory} GiB"


def write(results: Results) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report = {"when": stamp, "machine": machine(), "figures": results.rows,
              "plays": [{"play": name, "seconds": round(seconds, 1)} for name, seconds in results.plays],
              "suite_stages": [{"stage": name, "seconds": round(seconds)} for name, seconds in results.stages]}
    (OUT / "bench.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    lines = [f"# swarmforge bench, {stamp}", "", f"Machine: {report['machine']}.", "",
             "| figure | ratio | seconds | against (s) |", "| --- | ---: | ---: | ---: |"]
    for row in results.rows:
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] else ""
        against = f"{row['against_seconds']:.1f}" if row["against_seconds"] else ""
        note = f" ({row['note']})" if row["note"] else ""
        lines.append(f"| {row['figure']}{note} | {ratio} | {row['seconds']:.1f} | {against} |")
    if results.plays:
        lines += ["", "Fresh site.yml per play:", "", "| play | seconds |", "| --- | ---: |"]
        lines += [f"| {name.replace('|', '/')} | {seconds:.1f} |" for name, seconds in results.plays]
    if results.stages:
        lines += ["", "`make test` stages (last run):", "", "| stage | seconds |", "| --- | ---: |"]
        lines += [f"| {name} | {seconds:.0f} |" for name, seconds in results.stages]
    (OUT / "bench.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    log(f"written: {OUT / 'bench.md'}, {OUT / 'bench.json'}")


def main(argv: list[str]) -> int:
    unknown = [name for name in argv if name not in SECTIONS]
    if unknown:
        print(f"bench: unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    results = run(argv or list(SECTIONS))
    write(results)
    log(f"done in {time.monotonic() - started:.0f}s; inventory of the last lab: {lab_inventory(LAB)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
