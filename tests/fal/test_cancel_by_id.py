"""FalRunner.cancel: fal's cancel for a request submitted earlier (the inbox's "Cancel at fal")."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from nodes.fal.runner import FalRunner
from tests.fal.support import TEST_KEY, calls

T2V = "luma/agent/ray/v3.2/text-to-video"


def _submit_directly(sandbox: Any) -> str:
    reply = httpx.post(f"{sandbox.url}/{T2V}", json={"prompt": "a fox"}, headers={"Authorization": f"Key {TEST_KEY}"})
    reply.raise_for_status()
    return str(reply.json()["request_id"])


def _status(sandbox: Any, request_id: str) -> str:
    reply = httpx.get(f"{sandbox.url}/luma/agent/requests/{request_id}/status",
                      headers={"Authorization": f"Key {TEST_KEY}"})
    return str(reply.json()["status"])


def test_cancel_of_a_queued_request_by_id_reaches_fal(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=60, run_seconds=1)
    request_id = _submit_directly(fal_env)
    assert asyncio.run(runner.cancel(T2V, request_id)) == "CANCELLATION_REQUESTED"
    [cancel] = calls(fal_env, "cancel")
    assert cancel["method"] == "PUT" and cancel["cancel"] == {"state_before": "IN_QUEUE", "accepted": True}
    assert _status(fal_env, request_id) == "COMPLETED"  # fal ends a cancelled request


def test_cancel_of_a_finished_request_says_already_completed(fal_env: Any, runner: FalRunner) -> None:
    fal_env.configure(queue_seconds=0, run_seconds=0)
    request_id = _submit_directly(fal_env)
    deadline = time.monotonic() + 30
    while _status(fal_env, request_id) != "COMPLETED":
        assert time.monotonic() < deadline, "the sandbox never finished the request"
        time.sleep(0.05)
    assert asyncio.run(runner.cancel(T2V, request_id)) == "ALREADY_COMPLETED"


def test_cancel_of_an_unknown_request_says_not_found(fal_env: Any, runner: FalRunner) -> None:
    assert asyncio.run(runner.cancel(T2V, "3f2b6c1e-8d4a-4b7e-9c0d-1a2b3c4d5e6f")) == "NOT_FOUND"
