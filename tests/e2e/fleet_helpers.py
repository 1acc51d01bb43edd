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

from tests.e2e.pack_helpers import example_prompt, node_of_type
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

    def prompt(self, text: str | None = None, seed: int = 0) -> tuple[dict[str, Any], str]:
        prompt = example_prompt(self.hosts[0], EXAMPLE, **{T2V: {"seed": seed}})
        node_id, node = node_of_type(prompt, T2V)
        if text is not None:
            node["inputs"]["prompt"] = text
        return prompt, node_id


def submits(sandbox: Any) -> list[dict[str, Any]]:
    return [c for c in sandbox.log() if c.get("point") == "submit"]


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


def saved_video(host: ComfyHost, result: Any, node_id: str) -> Path:
    files = [host.output_path(f) for f in result.files(node_id)]
    assert len(files) == 1, result.describe()
    return files[0]
