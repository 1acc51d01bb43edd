"""Every fault kind does what the control API promises, observed over real HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.sandbox.helpers import run_to_result, wait_completed

T2I = "luma/agent/uni-1/v1/text-to-image"


def test_fault_rules_are_validated(sandbox: Any) -> None:
    bad = [{"point": "submit", "kind": "teleport"}, {"point": "status", "kind": "stop_midway"},
           {"point": "submit", "kind": "http"}, {"point": "submit", "kind": "http", "status": 500, "times": 0},
           {"point": "submit", "kind": "drop", "colour": "red"}]
    for rule in bad:
        response = httpx.post(f"{sandbox.url}/_sandbox/faults", json={"faults": [rule]})
        assert response.status_code == 400, rule
    assert sandbox.pending_faults() == []


def test_http_faults_are_consumed_per_call_with_times(api: httpx.Client, sandbox: Any) -> None:
    sandbox.inject({"point": "submit", "kind": "http", "status": 429, "retry_after": 2, "times": 2})
    first, second, third = (api.post(f"/{T2I}", json={"prompt": "x"}) for _ in range(3))
    assert first.status_code == second.status_code == 429
    assert first.headers["retry-after"] == "2"
    assert third.status_code == 200 and sandbox.pending_faults() == []


def test_nginx_gateway_error_has_no_request_id_but_json_error_does(api: httpx.Client, sandbox: Any) -> None:
    sandbox.inject({"point": "submit", "kind": "http", "status": 503},
                   {"point": "submit", "kind": "http", "status": 503, "style": "json",
                    "error_type": "runner_scheduling_failure"})
    nginx = api.post(f"/{T2I}", json={"prompt": "x"})
    assert nginx.status_code == 503 and "nginx" in nginx.text
    assert "x-fal-request-id" not in nginx.headers and nginx.headers["content-type"].startswith("text/html")
    as_json = api.post(f"/{T2I}", json={"prompt": "x"})
    assert as_json.status_code == 503 and as_json.headers["x-fal-request-id"]
    assert as_json.json()["error_type"] == as_json.headers["x-fal-error-type"] == "runner_scheduling_failure"


@pytest.mark.parametrize("status", [401, 403])
def test_no_credit(api: httpx.Client, sandbox: Any, status: int) -> None:
    sandbox.inject({"point": "submit", "kind": "no_credit", "status": status})
    response = api.post(f"/{T2I}", json={"prompt": "x"})
    assert response.status_code == status
    assert response.json()["detail"].startswith("User is locked. Reason: Exhausted balance")


def test_faults_narrowed_to_status_of_one_endpoint(api: httpx.Client, sandbox: Any) -> None:
    submitted = api.post(f"/{T2I}", json={"prompt": "x"}).json()
    sandbox.inject({"point": "status", "kind": "http", "status": 500, "style": "json",
                    "endpoint_id": "luma/agent/ray/v3.2/reframe"},
                   {"point": "status", "kind": "http", "status": 500, "style": "json", "endpoint_id": T2I})
    assert api.get(submitted["status_url"]).status_code == 500
    assert api.get(submitted["status_url"]).status_code in (200, 202)
    assert [f["endpoint_id"] for f in sandbox.pending_faults()] == ["luma/agent/ray/v3.2/reframe"]


@pytest.mark.parametrize("point", ["submit", "status", "result", "cancel"])
def test_drop_closes_connection_without_answer(api: httpx.Client, sandbox: Any, point: str) -> None:
    submitted = api.post(f"/{T2I}", json={"prompt": "x"}).json()
    wait_completed(api, submitted["status_url"])
    sandbox.inject({"point": point, "kind": "drop"})
    call = {"submit": lambda: api.post(f"/{T2I}", json={"prompt": "y"}),
            "status": lambda: api.get(submitted["status_url"]),
            "result": lambda: api.get(submitted["response_url"]),
            "cancel": lambda: api.put(submitted["cancel_url"])}[point]
    with pytest.raises(httpx.TransportError):
        call()
    assert call().status_code in (200, 202, 400)  # the next call is answered normally
    assert any(e["status"] == "dropped" and e["point"] == point for e in sandbox.log())


def test_upload_faults(sandbox: Any) -> None:
    sandbox.inject({"point": "upload", "kind": "http", "status": 502},
                   {"point": "upload", "kind": "drop"})
    url = f"{sandbox.url}/storage/auth/token"
    headers = {"Authorization": "Key k"}
    assert httpx.post(url, json={}, headers=headers).status_code == 502
    with pytest.raises(httpx.TransportError):
        httpx.post(url, json={}, headers=headers)
    assert httpx.post(url, json={}, headers=headers).status_code == 200


def test_stream_stop_midway(api: httpx.Client, sandbox: Any) -> None:
    sandbox.inject({"point": "stream", "kind": "stop_midway"})
    submitted = api.post(f"/{T2I}", json={"prompt": "x"}).json()
    with api.stream("GET", submitted["status_url"] + "/stream") as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert len(lines) == 1 and json.loads(lines[0][6:])["status"] != "COMPLETED"


def test_stuck_in_queue(api: httpx.Client, sandbox: Any) -> None:
    sandbox.configure(queue_seconds=0.1)
    sandbox.inject({"kind": "stuck_in_queue"})  # point defaults to the only one that fits: submit
    stuck = api.post(f"/{T2I}", json={"prompt": "x"}).json()
    normal = api.post(f"/{T2I}", json={"prompt": "x"}).json()
    wait_completed(api, normal["status_url"])
    body = api.get(stuck["status_url"]).json()
    assert body["status"] == "IN_QUEUE" and "queue_position" in body


def test_completed_with_error(api: httpx.Client, sandbox: Any) -> None:
    sandbox.inject({"point": "submit", "kind": "completed_with_error", "error": "Runner disconnected",
                    "error_type": "runner_disconnected", "status": 503})
    submitted = api.post(f"/{T2I}", json={"prompt": "x"}).json()
    done = wait_completed(api, submitted["status_url"])
    assert (done["error"], done["error_type"]) == ("Runner disconnected", "runner_disconnected")
    result = api.get(submitted["response_url"])
    assert result.status_code == 503 and result.json()["error_type"] == "runner_disconnected"
    sandbox.inject({"point": "submit", "kind": "completed_with_error"})
    default = api.post(f"/{T2I}", json={"prompt": "x"}).json()
    assert wait_completed(api, default["status_url"])["error_type"] == "request_timeout"
    assert api.get(default["response_url"]).status_code == 504


def test_result_500_and_moderation(api: httpx.Client, sandbox: Any) -> None:
    sandbox.inject({"point": "submit", "kind": "result_500"}, {"point": "submit", "kind": "moderation"})
    crashed = run_to_result(api, T2I, {"prompt": "x"})
    assert crashed.status_code == 500 and crashed.json() == {"detail": "Internal Server Error"}
    flagged = run_to_result(api, T2I, {"prompt": "x"})
    assert flagged.status_code == 422
    assert flagged.json()["detail"][0]["type"] == "content_policy_violation"


def _file_url(api: httpx.Client) -> tuple[str, bytes]:
    url = run_to_result(api, T2I, {"prompt": "download faults"}).json()["images"][0]["url"]
    return url, api.get(url).content


def test_expired_url_for_first_gets(api: httpx.Client, sandbox: Any) -> None:
    url, data = _file_url(api)
    sandbox.inject({"point": "download", "kind": "expired_url", "times": 2})
    assert [api.get(url).status_code for _ in range(3)] == [403, 403, 200]


def test_truncated_short_body_with_honest_length(api: httpx.Client, sandbox: Any) -> None:
    url, data = _file_url(api)
    sandbox.inject({"point": "download", "kind": "truncated", "mode": "short", "fraction": 0.25})
    short = api.get(url)
    assert short.status_code == 200 and short.content == data[: len(data) // 4]
    assert short.headers["content-length"] == str(len(data) // 4)


@pytest.mark.parametrize("rule", [{"kind": "truncated", "mode": "drop"}, {"kind": "drop"}])
def test_download_drops_mid_body(api: httpx.Client, sandbox: Any, rule: dict[str, Any]) -> None:
    url, data = _file_url(api)
    sandbox.inject({"point": "download", **rule})
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError):
        with api.stream("GET", url) as response:
            assert response.headers["content-length"] == str(len(data))
            for chunk in response.iter_bytes():
                received += chunk
    assert 0 < len(received) < len(data) and bytes(received) == data[: len(received)]
    # Resuming with a Range completes the file.
    rest = api.get(url, headers={"Range": f"bytes={len(received)}-"})
    assert rest.status_code == 206 and bytes(received) + rest.content == data


def test_delay_holds_a_call_then_answers_it_as_usual(api: httpx.Client, sandbox: Any) -> None:
    import threading

    sandbox.inject({"point": "submit", "kind": "delay", "seconds": 1.5})
    answers: list[httpx.Response] = []
    sender = threading.Thread(target=lambda: answers.append(api.post(f"/{T2I}", json={"prompt": "x"})))
    sender.start()
    held = None
    for _ in range(200):
        held = [c for c in sandbox.log() if c.get("point") == "submit"]
        if held:
            break
        threading.Event().wait(0.02)
    assert held and "status" not in held[0] and held[0]["fault"] == "delay"  # arrived, not answered yet
    sender.join(30)
    assert answers and answers[0].status_code == 200 and answers[0].json()["request_id"]
    assert sandbox.log()[0]["status"] == 200



@pytest.mark.parametrize("kind", ["delay", "slow"])
def test_a_held_call_whose_client_hung_up_never_happens(api: httpx.Client, sandbox: Any, kind: str) -> None:
    """As at fal's gateway: a submit held there whose client gave up (or died) never becomes a request."""

    sandbox.inject({"point": "submit", "kind": kind, "seconds": 1.5})
    with pytest.raises(httpx.ReadTimeout):
        api.post(f"/{T2I}", json={"prompt": "x"}, timeout=0.3)
    deadline = time.monotonic() + 30
    while "status" not in sandbox.log()[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    [call] = sandbox.log()
    assert call["status"] == 499 and call["abandoned"] is True and not call.get("request_id"), call
    later = api.post(f"/{T2I}", json={"prompt": "x"})  # the next submit is a request as usual
    assert later.status_code == 200 and later.json()["request_id"]

def test_expire_forgets_a_request_as_fal_does_after_its_retention(api: httpx.Client, sandbox: Any) -> None:
    submitted = api.post(f"/{T2I}", json={"prompt": "x"}).json()
    wait_completed(api, submitted["status_url"])
    assert api.get(submitted["response_url"]).status_code == 200
    assert sandbox.expire(submitted["request_id"]) == [submitted["request_id"]]
    assert api.get(submitted["status_url"]).status_code == 404
    assert api.get(submitted["response_url"]).status_code == 404
    assert sandbox.expire("no-such-request") == []
    assert httpx.post(f"{sandbox.url}/_sandbox/expire", json={"request_id": 5}).status_code == 400


def test_release_lets_a_held_request_start(api: httpx.Client, sandbox: Any) -> None:
    sandbox.configure(queue_seconds=900, run_seconds=0.2)
    submitted = api.post(f"/{T2I}", json={"prompt": "x"}).json()
    assert api.get(submitted["status_url"]).json()["status"] == "IN_QUEUE"
    assert sandbox.release(submitted["request_id"])
    assert wait_completed(api, submitted["status_url"])["status"] == "COMPLETED"
    assert not sandbox.release(submitted["request_id"])  # a finished request has nothing to be released from


def test_hold_running_keeps_a_run_going_after_its_logs_until_released(api: httpx.Client, sandbox: Any) -> None:
    sandbox.configure(queue_seconds=0, run_seconds=0.2, log_lines=2, hold_running=True)
    submitted = api.post(f"/{T2I}", json={"prompt": "x"}).json()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # both log lines out, and still running
        status = api.get(submitted["status_url"], params={"logs": 1}).json()
        if status["status"] == "IN_PROGRESS" and len(status.get("logs") or []) >= 3:
            break
        time.sleep(0.05)
    assert [line["message"] for line in status["logs"]][1:] == ["Generating: step 1/2", "Generating: step 2/2"]
    time.sleep(0.5)  # well past run_seconds: still held
    assert api.get(submitted["status_url"]).json()["status"] == "IN_PROGRESS"
    assert sandbox.release(submitted["request_id"])
    assert not sandbox.release(submitted["request_id"])  # already let go (or finished): this call lets nothing go
    assert wait_completed(api, submitted["status_url"])["status"] == "COMPLETED"
    assert httpx.post(f"{sandbox.url}/_sandbox/config", json={"hold_running": 1}).status_code == 400
