"""Several real ComfyUI workers on one journal and one sandbox, for tests/e2e/test_fleet_*.py (not a test module).

``Fleet`` starts workers (ComfyUI 0.3.75, each its own output folder) sharing either a PostgreSQL journal
(``LUMA_FAL_JOURNAL_URL``) or one SQLite journal in a user folder they share, with a short worker lease
so a killed worker's requests are taken over within seconds.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.pack_helpers import example_prompt, mp4_facts, node_of_type, saved_video, submits, unique_text
from tools.harness import ComfyHost, start_host
from tools.layout import TEST_OUTPUT
from tools.procs import ComfyOptions

T2V = "LumaFalRay32TextToVideo"
EXAMPLE = "luma_ray32_text_to_video"
LEASE_S = 3.0


class Fleet:
    def __init__(self, fal: Any, name: str, workers: int, *, journal_url: str | None = None) -> None:
        self.fal, self.name, self.journal_url = fal, name, journal_url
        self.root = TEST_OUTPUT / "comfy" / name
        shutil.rmtree(self.root, ignore_errors=True)
        self.shared_user = None if journal_url else self.root / "shared-user"
        self.hosts: list[ComfyHost] = [None] * workers  # type: ignore[list-item]
        starters = [threading.Thread(target=self._start, args=(n,)) for n in range(workers)]
        for thread in starters:  # started together: their migrations race, as a fleet's do
            thread.start()
        for thread in starters:
            thread.join()
        assert all(self.hosts), "a worker did not start"

    def options(self, n: int) -> ComfyOptions:
        env = {"LUMA_FAL_WORKER_LEASE_S": str(LEASE_S)}
        if self.journal_url:
            env |= {"LUMA_FAL_JOURNAL_URL": self.journal_url, "LUMA_FAL_WORKER_NAME": f"worker-{'abc'[n]}"}
        return ComfyOptions(name=f"{self.name}-{'abc'[n]}", log_dir=TEST_OUTPUT / "logs", extra_env=env,
                            user_dir=self.shared_user)

    def _start(self, n: int) -> None:
        self.hosts[n] = start_host(self.options(n), sandbox=self.fal)

    def restart(self, n: int) -> ComfyHost:
        self.hosts[n] = self.hosts[n].restarted()
        return self.hosts[n]

    def stop(self) -> None:
        for host in self.hosts:
            if host is not None:
                host.stop()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def prompt(self, text: str | None = None, seed: int = 0) -> tuple[dict[str, Any], str]:
        prompt = example_prompt(self.hosts[0], EXAMPLE, **{T2V: {"seed": seed}})
        node_id, node = node_of_type(prompt, T2V)
        if text is not None:
            node["inputs"]["prompt"] = text
        return prompt, node_id


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together; their results in order."""
    results: list[Any] = [None] * len(calls)
    gate = threading.Barrier(len(calls))

    def one(n: int) -> None:
        gate.wait()
        results[n] = calls[n]()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def budget_race(fleet: Fleet, sandbox: Any, set_budget: Callable[[float | None], None], budget: float,
                label: str) -> tuple[int, list[Any]]:
    """With the daily budget set to ``budget`` (by ``set_budget``), 4 different seeds queued on each worker at
    once; the budget is cleared again whatever happens. Returns the submits fal saw and the runs' results."""
    try:
        set_budget(budget)
        before = len(submits(sandbox))
        text = unique_text(label)
        runs = [host.submit(fleet.prompt(text, seed=100 + 10 * n + k)[0]) for k in range(4)
                for n, host in enumerate(fleet.hosts)]
        results = [run.wait(timeout=600) for run in runs]
    finally:
        set_budget(None)
    return len(submits(sandbox)) - before, results


def same_identity_race(fleet: Fleet, sandbox: Any, label: str) -> tuple[str, list[Path]]:
    """The same workflow and seed queued on two workers at once: asserts both succeed with one submit at fal
    and each has a whole video; returns the request id and the two saved videos."""
    sandbox.configure(queue_seconds=2, run_seconds=1)
    a, b = fleet.hosts[:2]
    prompt, node_id = fleet.prompt(unique_text(label), seed=11)
    results = at_once([lambda: a.run(prompt, timeout=300), lambda: b.run(prompt, timeout=300)])
    assert all(r.ok for r in results), [r.describe() for r in results]
    count = len(submits(sandbox))
    print(f"\n{label} on 2 workers: {count} submit(s)")
    assert count == 1
    videos = [saved_video(host, r, node_id) for host, r in zip(fleet.hosts, results, strict=True)]
    assert all(mp4_facts(v)["frames"] == 121 for v in videos)
    return submits(sandbox)[0]["request_id"], videos
