"""The whole suite as several pytest processes side by side: ``python -m tests.support.parallel [options]``.

Most of the e2e and browser time is spent waiting (sandbox queue delays, ComfyUI start-up, page loads), not
computing, so independent parts of the suite run at once even on two cores. The parts ("shards") are cut so
that each ComfyUI server variant lives in exactly one process: the layer suites (no ComfyUI), and per host the
e2e suite and the browser suite (a big e2e suite is cut further by whole files). Each shard is complete by
construction: the last shard of a group takes the group's folder minus the files named before it, so a new
test file is always run.

Each shard writes to its own ``test-output/<shard>/`` (``LUMA_TEST_OUTPUT``: logs, servers' folders, junit
XML, ``pytest.log``) so two processes never share a server folder or a journal. When all are done, every
shard's own output is printed (its failures, its ``--durations`` and its summary line), then the slowest tests
of the whole run, then one merged pytest-style closing line. The exit code is non-zero when any shard failed,
errored, crashed or collected no test (pytest's exit code 5).

Options: ``--hosts`` (default: all, or ``LUMA_TEST_HOSTS``), ``--jobs N`` (shards at once, default: all of
them; ``--jobs 0`` = one plain pytest process for everything, the old way). Anything else is passed to every
pytest process; when it chooses tests (paths, ``-k``, ``-m``), one plain pytest process runs them (e.g.
``tests/e2e -x``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from tools.layout import HOSTS, REPO, TEST_OUTPUT, parse_hosts

# e2e files cut out of a host's e2e suite into a shard of their own (the slowest files, by measured time),
# so that no shard runs much longer than the others. The rest of tests/e2e stays in the host's main shard.
E2E_SPLIT: tuple[tuple[str, ...], ...] = ()
# e2e files whose tests start (kill, restart) ComfyUIs of their own and share no server with the rest: shards
# for every host, mostly waiting on restarts and leases (~14 min of e2e time in all, measured 2026-12-03;
# one shard for all of them became the longest part of the run), cut in two of about the same length.
OWN_SERVERS: tuple[tuple[str, ...], ...] = (
    ("tests/e2e/test_reconcile.py", "tests/e2e/test_lost_submit_bound.py"),
    ("tests/e2e/test_journal_recovery.py", "tests/e2e/test_fleet_postgres.py", "tests/e2e/test_fleet_sqlite.py"),
)
SLOWEST = 20
STATUS_EVERY = 60.0  # seconds between "running: e2e-0.3.75 41/255, ..." lines
_SELECTED = re.compile(
    r"collected \d+ items? / \d+ deselected / (\d+) selected|collected (\d+) items?$", re.M
)
_OUTCOMES = re.compile(r"^[.FEsxX]+\s*(\[\s*\d+%\])?\s*$")
_RESULTS = re.compile(r"[.FEsxX]")
# pytest's closing line: "==== 1 failed, 7 passed in 12.31s (0:00:12) ====", or with -q "7 passed in 2.67s".
_SUMMARY = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+|no tests ran) in ([0-9.]+)s\b.*$")
_COUNT = re.compile(r"(\d+) (\w+)")


# Niceness per kind of shard: the browser tests wait on page loads with fixed timeouts, so on a busy machine
# they get the CPU first; the e2e suites (decoding real MP4s in ComfyUI, long run timeouts) take what is left.
NICE = {"browser": 0, "unit": 2, "e2e": 5}


@dataclass
class Shard:
    name: str
    args: list[str]  # test paths and --ignore options
    hosts: tuple[str, ...]
    rc: int | None = None
    started: float = 0.0
    elapsed: float = 0.0
    cpu: float = 0.0  # user + system seconds of the pytest process and every process it waited for
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def nice(self) -> int:
        return NICE.get(self.name.split("-")[0], 0)

    @property
    def out(self) -> Path:
        return TEST_OUTPUT / self.name

    @property
    def log(self) -> Path:
        return self.out / "pytest.log"


def plan(hosts: tuple[str, ...]) -> list[Shard]:
    """The shards of the whole suite for ``hosts``, the longest-running first."""
    shards = [Shard(f"e2e-own-servers-{i + 1}", list(files), hosts) for i, files in enumerate(OWN_SERVERS)]
    for host in hosts:
        taken: list[str] = [f for files in OWN_SERVERS for f in files]
        for i, files in enumerate(E2E_SPLIT):
            shards.append(Shard(f"e2e-{host}-{i + 1}", list(files), (host,)))
            taken += files
        shards.append(Shard(f"e2e-{host}", ["tests/e2e", *(f"--ignore={f}" for f in taken)], (host,)))
        shards.append(Shard(f"browser-{host}", ["tests/browser"], (host,)))
    # Everything that is neither e2e nor browser: the layer suites (and any new folder), on every host.
    shards.append(Shard("unit", ["tests", "--ignore=tests/e2e", "--ignore=tests/browser"], hosts))
    return shards


def start(shard: Shard, extra: list[str]) -> None:
    if shard.out.exists():
        shutil.rmtree(shard.out)
    shard.out.mkdir(parents=True)
    env = {**os.environ, "LUMA_TEST_OUTPUT": str(shard.out)}
    command = [
        sys.executable, "-m", "pytest", *shard.args, f"--hosts={','.join(shard.hosts)}",
        "-p", "no:cacheprovider",
        f"--junitxml={shard.out / 'junit.xml'}", *extra,
    ]
    shard.started = time.monotonic()
    with open(shard.log, "wb") as log:
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        shard.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=lambda: os.nice(shard.nice) and None)
    hosts = ",".join(shard.hosts)
    say(f"started {shard.name} (nice {shard.nice}): pytest {' '.join(shard.args)} --hosts={hosts}")


def say(text: str) -> None:
    print(f"[parallel {time.strftime('%H:%M:%S')}] {text}", flush=True)


def progress(shard: Shard) -> str:
    """Tests done / selected, from pytest's progress lines ("tests/x.py ..F.s  [ 12%]")."""
    try:
        text = shard.log.read_text(errors="replace")
    except OSError:
        return "?"
    selected = _SELECTED.search(text)
    total = next((g for g in selected.groups() if g), "?") if selected else "?"
    done = 0
    for line in text.splitlines():
        if line.startswith("tests/") and " " in line:
            outcomes = line.split(" ", 1)[1]
            if _OUTCOMES.match(outcomes):
                done += len(_RESULTS.findall(outcomes))
    return f"{done}/{total}"


def summary_line(shard: Shard) -> str | None:
    lines = shard.log.read_text(errors="replace").splitlines()
    return next((line for line in reversed(lines) if _SUMMARY.match(line)), None)


def counts(line: str | None) -> dict[str, int]:
    if line is None:
        return {}
    match = _SUMMARY.match(line)
    assert match is not None
    found: dict[str, int] = {}
    for number, word in _COUNT.findall(match.group(1)):
        word = {"error": "errors", "warning": "warnings"}.get(word, word)
        found[word] = found.get(word, 0) + int(number)
    return found


def slowest(shards: list[Shard], n: int) -> list[tuple[float, str]]:
    """The n slowest tests of the run (setup + call + teardown, from each shard's junit XML)."""
    times: list[tuple[float, str]] = []
    for shard in shards:
        path = shard.out / "junit.xml"
        if not path.exists():
            continue
        for case in ET.parse(path).iter("testcase"):
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            times.append((float(case.get("time") or 0.0), f"{name}  ({shard.name})"))
    return sorted(times, reverse=True)[:n]


def stop_on_signal(running: list[Shard], waiting: list[Shard]) -> None:
    """SIGTERM/SIGINT (CI cancel, Ctrl-C): pass an interrupt to every pytest process, so each one stops its
    servers and prints its summary; the report then shows what ran."""

    def handler(signum: int, _frame: object) -> None:
        say(f"signal {signum}: interrupting {', '.join(s.name for s in running) or 'nothing'}")
        waiting.clear()
        for shard in running:
            if shard.process is not None and shard.process.poll() is None:
                shard.process.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def cpu_times() -> tuple[float, float]:
    """(busy, all) seconds of every core since boot, from /proc/stat (idle and iowait are not busy)."""
    with open("/proc/stat") as stat:
        ticks = [int(t) for t in stat.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - ticks[3] - ticks[4]) / hz, sum(ticks) / hz


def run_shards(shards: list[Shard], extra: list[str], jobs: int) -> int:
    t0 = time.monotonic()
    machine0 = cpu_times()
    waiting = list(shards)
    running: list[Shard] = []
    done: list[Shard] = []
    stop_on_signal(running, waiting)
    last_status = time.monotonic()
    while waiting or running:
        while waiting and len(running) < jobs:
            shard = waiting.pop(0)
            start(shard, extra)
            running.append(shard)
        time.sleep(0.5)
        for shard in list(running):
            assert shard.process is not None
            # wait4, not poll: its rusage says how much of the two cores the shard used (the report's "cpu").
            pid, status, usage = os.wait4(shard.process.pid, os.WNOHANG)
            if pid == 0:
                continue
            shard.rc = shard.process.returncode = os.waitstatus_to_exitcode(status)
            shard.cpu = usage.ru_utime + usage.ru_stime
            shard.elapsed = time.monotonic() - shard.started
            running.remove(shard)
            done.append(shard)
            say(f"finished {shard.name} in {shard.elapsed:.0f}s, exit code {shard.rc}: {summary_line(shard)}")
        if running and time.monotonic() - last_status >= STATUS_EVERY:
            last_status = time.monotonic()
            say("running: " + ", ".join(f"{s.name} {progress(s)}" for s in running))
    busy, every = (b - a for a, b in zip(machine0, cpu_times()))
    return report(done, time.monotonic() - t0, busy / every if every else 0.0)


def report(shards: list[Shard], wall: float, busy: float) -> int:
    for shard in shards:
        print(f"\n{'#' * 30} shard {shard.name}: pytest output ({shard.log.relative_to(REPO)}) {'#' * 30}")
        print(shard.log.read_text(errors="replace"), end="", flush=True)
    print(f"\n{'#' * 30} all shards {'#' * 30}")
    for shard in shards:
        line = summary_line(shard) or "NO SUMMARY LINE"
        print(f"{shard.name:<22} {shard.elapsed:7.1f}s  cpu {shard.cpu:7.1f}s  exit {shard.rc}  {line}")
    print(f"the machine's {os.cpu_count()} cores were busy {busy:.0%} of the run "
          f"(the shards' cpu: {sum(s.cpu for s in shards):.0f}s in {wall:.0f}s)")
    print(f"\nslowest {SLOWEST} tests of the run (setup + call + teardown):")
    for seconds, name in slowest(shards, SLOWEST):
        print(f"{seconds:8.2f}s {name}")
    total: dict[str, int] = {}
    problems: list[str] = []
    for shard in shards:
        line = summary_line(shard)
        found = counts(line)
        if shard.rc == 5 or (line and "no tests ran" in line):
            problems.append(f"{shard.name}: no tests ran")
        elif line is None:
            problems.append(f"{shard.name}: pytest ended without a summary line (exit code {shard.rc})")
        elif shard.rc != 0 and not (found.get("failed") or found.get("errors")):
            problems.append(f"{shard.name}: exit code {shard.rc}")
        for word, number in found.items():
            total[word] = total.get(word, 0) + number
    # A shard that broke without a test result (crash, nothing collected) counts as one error of the run.
    if problems:
        total["errors"] = total.get("errors", 0) + len(problems)
    order = ["failed", "passed", "skipped", "xfailed", "xpassed", "errors", "warnings"]
    parts = [f"{total[w]} {w}" for w in order if total.get(w)]
    for problem in problems:
        print(f"FAILED shard {problem}")
    status = "failed" if total.get("failed") or total.get("errors") else "passed"
    print(f"{'=' * 20} {', '.join(parts) or 'no tests ran'} in {wall:.2f}s "
          f"({len(shards)} pytest processes, {status}) {'=' * 20}", flush=True)
    return 1 if status == "failed" else 0


def selects(args: list[str]) -> bool:
    """Whether the pass-through pytest arguments choose what to test (paths, -k, -m): then one pytest process
    runs them as given (cut into shards, most of them would select nothing)."""
    return any(a in ("-k", "-m") or a.startswith(("-k=", "-m=")) for a in args) or any(
        not a.startswith("-") and (REPO / a.split("::")[0]).exists() for a in args if a != "tests"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default=os.environ.get("LUMA_TEST_HOSTS", ""))
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("TEST_JOBS", "99")))
    options, extra = parser.parse_known_args(argv)
    hosts = parse_hosts(options.hosts)
    TEST_OUTPUT.mkdir(parents=True, exist_ok=True)
    if options.jobs <= 0 or selects(extra):
        command = [sys.executable, "-m", "pytest", f"--hosts={','.join(hosts)}", *extra]
        say("one pytest process: " + " ".join(command[1:]))
        return subprocess.call(command, cwd=REPO)
    extra = [a for a in extra if a != "tests"]
    shards = plan(hosts)
    say(f"{len(shards)} shards, {min(options.jobs, len(shards))} at once, hosts {' '.join(hosts)} "
        f"(known: {' '.join(HOSTS)})")
    return run_shards(shards, extra, options.jobs)


if __name__ == "__main__":
    sys.exit(main())
