"""fal's request records and billing events read from the sandbox at fal's paths (nodes/fal/records.py):
what a submit whose answer was lost leaves in fal's records, pages, scopes, and bounded failures."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from nodes.fal.config import FalConfig
from nodes.fal.records import RecordsClient, RecordsRefused, RecordsUnavailable
from nodes.luma import constants as C
from nodes.luma.prices import price_of

from .conftest import TEST_KEY

EP = C.RAY32_TEXT_TO_VIDEO


def _submit(sandbox: Any, prompt: str) -> str:
    answer = httpx.post(f"{sandbox.url}/{EP}", json={"prompt": prompt}, headers={"Authorization": f"Key {TEST_KEY}"})
    assert answer.status_code == 200, answer.text
    return answer.json()["request_id"]


def _wait_done(sandbox: Any, request_id: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = httpx.get(f"{sandbox.url}/luma/agent/requests/{request_id}/status",
                           headers={"Authorization": f"Key {TEST_KEY}"}).json()["status"]
        if status == "COMPLETED":
            return
        time.sleep(0.05)
    raise AssertionError("not completed")


def _calls(sandbox: Any, point: str) -> list[dict[str, Any]]:
    return [c for c in sandbox.log() if c.get("point") == point]


def _list(client: RecordsClient, **kw: Any) -> Any:
    now = time.time()
    return asyncio.run(client.requests(EP, start=now - 300, end=now + 60, **kw))


def test_a_request_is_listed_once_it_has_ended_with_the_payload_it_received(fal_env: Any) -> None:
    fal_env.configure(queue_seconds=0.1, run_seconds=1.5)
    request_id = _submit(fal_env, "a lighthouse")
    client = RecordsClient(FalConfig.from_env())
    assert _list(client) == []  # still running: fal lists a request by its end time
    _wait_done(fal_env, request_id)
    [record] = _list(client)
    assert record.request_id == request_id and record.status_code == 200
    assert record.json_input == {"prompt": "a lighthouse"} and record.json_output["video"]["url"]
    assert record.sent_at is not None and record.sent_at <= record.started_at <= record.ended_at
    assert all(c["auth"] == "valid" for c in _calls(fal_env, "requests"))
    [without] = _list(client, payloads=False)
    assert without.json_input is None


def test_a_submit_whose_answer_was_reset_is_in_the_records(fal_env: Any) -> None:
    fal_env.configure(queue_seconds=0.1, run_seconds=0.3)
    fal_env.inject({"point": "submit", "kind": "after_accept"})
    with pytest.raises(httpx.HTTPError):
        _submit(fal_env, "lost answer")
    [submit] = _calls(fal_env, "submit")
    _wait_done(fal_env, submit["request_id"])
    [record] = _list(RecordsClient(FalConfig.from_env()))
    assert record.request_id == submit["request_id"] and record.json_input == {"prompt": "lost answer"}


def test_pages_are_followed_by_cursor(fal_env: Any) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.1)
    ids = [_submit(fal_env, f"take {i}") for i in range(3)]
    for request_id in ids:
        _wait_done(fal_env, request_id)
    found = _list(RecordsClient(FalConfig.from_env(), page_limit=2))
    assert sorted(r.request_id for r in found) == sorted(ids)
    assert len(_calls(fal_env, "requests")) == 2


def test_billing_events_give_what_fal_billed(fal_env: Any) -> None:
    fal_env.configure(queue_seconds=0.0, run_seconds=0.1)
    fal_env.platform(billing_factor=1.25)
    request_id = _submit(fal_env, "billed")
    _wait_done(fal_env, request_id)
    now = time.time()
    [event] = asyncio.run(RecordsClient(FalConfig.from_env()).billing_events([request_id], start=now - 300,
                                                                             end=now + 60))
    estimate = price_of(EP, {"prompt": "billed"}).usd
    assert event.request_id == request_id and event.usd == pytest.approx(estimate * 1.25)
    assert event.output_units == pytest.approx(1.25) and event.unit_price == pytest.approx(0.5)


@pytest.mark.parametrize("scope,call", [("requests", "requests"), ("billing", "billing_events")])
def test_a_key_without_the_scope_is_refused_once(fal_env: Any, scope: str, call: str) -> None:
    fal_env.platform(key_scopes=[s for s in ("requests", "billing") if s != scope])
    client = RecordsClient(FalConfig.from_env())
    with pytest.raises(RecordsRefused) as refused:
        if call == "requests":
            _list(client)
        else:
            asyncio.run(client.billing_events(["x"], start=0, end=time.time()))
    assert refused.value.status == 403 and client.calls == 1 and len(_calls(fal_env, call)) == 1


@pytest.mark.parametrize("scope,call", [("requests", "requests"), ("billing", "billing_events")])
def test_fals_platform_error_type_and_message_are_shown_never_the_key(fal_env: Any, scope: str, call: str) -> None:
    fal_env.platform(key_scopes=[s for s in ("requests", "billing") if s != scope])
    with pytest.raises(RecordsRefused) as refused:
        client = RecordsClient(FalConfig.from_env())
        if call == "requests":
            _list(client)
        else:
            asyncio.run(client.billing_events(["x"], start=0, end=time.time()))
    text = str(refused.value)
    assert "HTTP 403, authorization_error: " in text, text
    assert ("permission to read request history" if call == "requests" else "Admin API key required") in text
    assert TEST_KEY not in text and TEST_KEY.split(":")[-1] not in text


def test_a_platform_error_that_echoes_the_key_never_shows_it(fal_env: Any) -> None:
    fal_env.inject({"point": "requests", "kind": "http", "status": 401, "style": "json",
                    "detail": f"Invalid key {TEST_KEY}"})
    with pytest.raises(RecordsRefused) as refused:
        _list(RecordsClient(FalConfig.from_env()))
    assert "HTTP 401, authorization_error: Invalid key ***" in str(refused.value)
    assert TEST_KEY not in str(refused.value)


def test_a_403_fault_is_refused_and_500_is_retried_a_bounded_number_of_times(fal_env: Any) -> None:
    fal_env.inject({"point": "requests", "kind": "http", "status": 403})
    with pytest.raises(RecordsRefused):
        _list(RecordsClient(FalConfig.from_env(), retry_gap=0.01))
    fal_env.inject({"point": "requests", "kind": "http", "status": 500, "times": 10})
    client = RecordsClient(FalConfig.from_env(), retry_gap=0.01)
    with pytest.raises(RecordsUnavailable) as failed:
        _list(client)
    assert failed.value.status == 500 and client.calls == 3
    assert len(_calls(fal_env, "requests")) == 4


def test_a_slow_listing_times_out_within_its_bound(fal_env: Any) -> None:
    fal_env.inject({"point": "requests", "kind": "slow", "seconds": 3, "times": 5})
    client = RecordsClient(FalConfig.from_env(), timeout=0.3, attempts=2, retry_gap=0.01)
    with pytest.raises(RecordsUnavailable, match="TimeoutError|ReadTimeout"):
        _list(client)
    assert client.calls == 2


def test_the_key_is_not_sent_without_being_configured(fal_env: Any, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("FAL_KEY")
    with pytest.raises(RecordsUnavailable, match="no fal key"):
        _list(RecordsClient(FalConfig.from_env()))
    assert fal_env.log() == []
