"""A submit answered by a gateway error or reset, in a real ComfyUI with a long reconciliation window.

fal's own gateway answering that no runner got the request (a JSON 5xx whose X-Fal-Error-Type says so) is
proof fal never queued it: the pack sends it once more, and fal ends up with exactly one request. Every
other lost answer (an ingress page, a reset, a gateway timeout) may hide a request fal holds: it is never
re-sent, and the node waits only about as long as this key's recent runs of the endpoint took at fal
(fal's records), not the 5-minute window this ComfyUI is given; then it says the search goes on in the
background and shows in the inbox. A re-run of the same inputs waits at most that bound again.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.pack_helpers import example_prompt, submits
from tools.harness import ComfyHost, start_host
from tools.layout import TEST_OUTPUT
from tools.procs import ComfyOptions

I2V = "LumaFalRay32ImageToVideo"
EXAMPLE = "luma_ray32_image_to_video"
NAME = "lost-submit"
# Far longer than any bound the sandbox's run times give: what ends the node is the bound, not the window.
WINDOW_S = 300
LIMIT_S = 120  # the "under 2 minutes" with the sandbox's run times

# fal's gateway says no runner got the request: re-sent once.
NOT_ACCEPTED = {
    "runner_scheduling_failure": {"status": 503, "error_type": "runner_scheduling_failure"},
    "runner_connection_refused": {"status": 503, "error_type": "runner_connection_refused"},
    "startup_timeout": {"status": 504, "error_type": "startup_timeout"},
}
# Answers that do not say whether fal has the request: never re-sent, the wait is bounded.
UNKNOWN = {
    "ingress_502": {"point": "submit", "kind": "http", "status": 502},
    "ingress_504": {"point": "submit", "kind": "http", "status": 504},
    "json_504_request_timeout": {"point": "submit", "kind": "http", "status": 504, "style": "json",
                                 "error_type": "request_timeout"},
    "reset_before_forwarded": {"point": "submit", "kind": "drop"},
}


class Host:
    def __init__(self, fal: Any, version: str) -> None:
        name = f"{NAME}-{version}"
        shutil.rmtree(TEST_OUTPUT / "comfy" / name, ignore_errors=True)
        self.host: ComfyHost = start_host(
            ComfyOptions(name=name, host=version, log_dir=TEST_OUTPUT / "logs",
                         extra_env={"LUMA_FAL_RECONCILE_WINDOW_S": str(WINDOW_S)}), sandbox=fal)

    def store(self) -> Any:
        from nodes.journal.sqlite import SqliteJournal

        return SqliteJournal(self.host.user_dir / "comfyui-luma-fal" / "journal.sqlite3")


@pytest.fixture(scope="module")
def lost(comfy_fal: Any, comfy_version: str) -> Iterator[Host]:
    holder = Host(comfy_fal, comfy_version)
    try:
        yield holder
    finally:
        holder.host.stop()


def _accepted(sandbox: Any) -> list[str]:
    return [c["request_id"] for c in submits(sandbox) if c.get("request_id")]


def _prompt(host: ComfyHost, seed: int) -> dict[str, Any]:
    return example_prompt(host, EXAMPLE, **{I2V: {"seed": seed}})


def _prime(host: ComfyHost, sandbox: Any) -> None:
    """One ordinary run, so fal's records hold a request to this endpoint (as after any earlier run)."""
    sandbox.configure(queue_seconds=0.2, run_seconds=1)
    result = host.run(_prompt(host, 1), timeout=120)
    assert result.ok, result.describe()


@pytest.mark.parametrize("error_type", sorted(NOT_ACCEPTED))
def test_a_submit_fals_gateway_never_queued_is_sent_once_more(lost: Host, sandbox: Any, error_type: str) -> None:
    host = lost.host
    sandbox.configure(queue_seconds=0.2, run_seconds=1)
    sandbox.inject({"point": "submit", "kind": "http", "style": "json", **NOT_ACCEPTED[error_type]})
    started = time.monotonic()
    result = host.run(_prompt(host, 10 + sorted(NOT_ACCEPTED).index(error_type)), timeout=LIMIT_S)
    print(f"\n{error_type}: ok={result.ok} after {time.monotonic() - started:.1f} s, "
          f"{len(submits(sandbox))} submit calls, {len(_accepted(sandbox))} request(s) at fal")

    assert result.ok, result.describe()
    assert len(submits(sandbox)) == 2  # the refused one and its one re-send
    [request_id] = _accepted(sandbox)  # exactly one request at fal
    [entry] = lost.store().list_entries(limit=1)
    assert entry.state == "done" and entry.request_id == request_id, entry


def test_a_second_refusal_is_shown_and_not_sent_a_third_time(lost: Host, sandbox: Any) -> None:
    host = lost.host
    sandbox.configure(queue_seconds=0.2, run_seconds=1)
    sandbox.inject({"point": "submit", "kind": "http", "style": "json", "times": 5,
                    **NOT_ACCEPTED["runner_scheduling_failure"]})
    result = host.run(_prompt(host, 20), timeout=LIMIT_S)

    assert result.status == "error", result.describe()
    message = result.error["exception_message"]
    assert "runner_scheduling_failure" in message and "both tries" in message and "not billed" in message, message
    assert len(submits(sandbox)) == 2 and _accepted(sandbox) == []


def _bound_in(message: str) -> float:
    found = re.search(r"so the pack waited (\d+) s", message)
    assert found, message
    return float(found.group(1))


@pytest.mark.parametrize("fault", sorted(UNKNOWN))
def test_an_unknown_submit_is_never_re_sent_and_the_node_waits_only_as_long_as_runs_take(
        lost: Host, sandbox: Any, fault: str) -> None:
    host = lost.host
    _prime(host, sandbox)
    sandbox.inject(UNKNOWN[fault])
    prompt = _prompt(host, 30 + sorted(UNKNOWN).index(fault))
    started = time.monotonic()
    first = host.run(prompt, timeout=LIMIT_S)
    took = time.monotonic() - started

    assert first.status == "error", first.describe()
    message = first.error["exception_message"]
    bound = _bound_in(message)
    print(f"\n{fault}: error after {took:.1f} s (bound {bound:.0f} s), "
          f"{len(submits(sandbox)) - 1} submit call(s), {len(_accepted(sandbox)) - 1} request(s) at fal")
    assert "NOT re-sent" in message or "not sent again" in message, message
    assert "in the background" in message and "fal inbox" in message, message
    assert "slowest of" in message, message  # the bound comes from fal's records of the primed run
    assert bound < LIMIT_S and bound < WINDOW_S
    assert len(submits(sandbox)) == 2  # the primed run and this one: never re-sent
    assert len(_accepted(sandbox)) == 1  # fal never had it (the primed run's request only)
    [entry, _] = lost.store().list_entries(limit=2)
    assert entry.state == "unknown_submit", entry  # still in doubt: the background search goes on
    assert entry.fal_records["verdict"] == "looking" and entry.fal_records["wait_s"] == pytest.approx(bound, abs=1)


def test_a_rerun_of_an_entry_in_doubt_waits_the_same_bound_and_says_so_again(lost: Host, sandbox: Any) -> None:
    host = lost.host
    _prime(host, sandbox)
    sandbox.inject(UNKNOWN["reset_before_forwarded"])
    prompt = _prompt(host, 50)
    first = host.run(prompt, timeout=LIMIT_S)
    assert first.status == "error", first.describe()
    started = time.monotonic()
    again = host.run(prompt, timeout=LIMIT_S)
    print(f"\nre-run in doubt: error after {time.monotonic() - started:.1f} s, {len(submits(sandbox)) - 1} submit call(s)")

    assert again.status == "error", again.describe()
    message = again.error["exception_message"]
    assert "in the background" in message and "fal inbox" in message and "change the seed" in message, message
    assert len(submits(sandbox)) == 2  # the re-run sent nothing
    assert len(_accepted(sandbox)) == 1
