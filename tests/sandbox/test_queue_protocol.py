"""The queue API over raw HTTP: codes, shapes, lifecycle, SSE, cancel and auth, as fal answers them."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.sandbox.helpers import TEST_KEY, run_to_result, wait_completed

T2V = "luma/agent/ray/v3.2/text-to-video"
T2I = "luma/agent/uni-1/v1/text-to-image"


def test_submit_answers_200_with_owner_app_urls(api: httpx.Client, sandbox: Any) -> None:
    response = api.post(f"/{T2V}", json={"prompt": "dunes"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "IN_QUEUE" and body["queue_position"] == 2
    assert response.headers["x-fal-request-id"] == body["request_id"]
    base = f"{sandbox.url}/luma/agent/requests/{body['request_id']}"
    assert (body["response_url"], body["status_url"], body["cancel_url"]) == (base, f"{base}/status", f"{base}/cancel")


def test_status_walks_queue_progress_completed_with_right_codes(api: httpx.Client, sandbox: Any) -> None:
    # One queue position per second: the first poll sees position 2 even when a loaded machine takes a few
    # hundred ms to send it (the quick settings tick every 0.2 s).
    sandbox.configure(queue_seconds=3.0, run_seconds=0.5)
    status_url = api.post(f"/{T2I}", json={"prompt": "owl"}).json()["status_url"]
    seen: list[tuple[int, str, Any]] = []
    while not seen or seen[-1][1] != "COMPLETED":
        response = api.get(status_url, params={"logs": "1"})
        body = response.json()
        seen.append((response.status_code, body["status"], body.get("queue_position")))
        assert response.headers["x-fal-request-id"] == body["request_id"]
    states = [s for _, s, _ in seen]
    assert states[0] == "IN_QUEUE" and "IN_PROGRESS" in states
    assert all(code == 202 for code, s, _ in seen if s != "COMPLETED") and seen[-1][0] == 200
    positions = [p for _, s, p in seen if s == "IN_QUEUE"]
    assert positions == sorted(positions, reverse=True) and positions[0] == 2


def test_logs_are_null_unless_asked_and_metrics_on_completion(api: httpx.Client) -> None:
    status_url = api.post(f"/{T2I}", json={"prompt": "owl"}).json()["status_url"]
    done_without = wait_completed(api, status_url, logs=False)
    assert "logs" in done_without and done_without["logs"] is None
    assert done_without["metrics"]["inference_time"] > 0
    assert "error" not in done_without
    for flag in ("1", "true"):
        logs = api.get(status_url, params={"logs": flag}).json()["logs"]
        assert [entry["message"] for entry in logs][0].startswith("Starting")
        assert {"message", "level", "source", "timestamp"} <= set(logs[0])
    assert api.get(status_url, params={"logs": "false"}).json()["logs"] is None


def test_in_progress_status_carries_logs_key(api: httpx.Client, sandbox: Any) -> None:
    sandbox.configure(queue_seconds=0, run_seconds=5)
    status_url = api.post(f"/{T2I}", json={"prompt": "owl"}).json()["status_url"]
    body = api.get(status_url).json()
    while body["status"] == "IN_QUEUE":
        body = api.get(status_url).json()
    assert body["status"] == "IN_PROGRESS" and body["logs"] is None and "queue_position" not in body


def test_result_replays_output_and_tolerates_trailing_slash(api: httpx.Client) -> None:
    submitted = api.post(f"/{T2I}/", json={"prompt": "fern"}).json()
    wait_completed(api, submitted["status_url"] + "/")
    response = api.get(submitted["response_url"] + "/")
    assert response.status_code == 200
    assert response.headers["x-fal-request-id"] == submitted["request_id"]
    image = response.json()["images"][0]
    assert set(image) == {"url", "content_type", "file_name", "file_size"}
    assert image["url"].startswith(str(api.base_url).rstrip("/") + "/files/")


def test_result_before_completion_and_unknown_ids(api: httpx.Client, sandbox: Any) -> None:
    sandbox.configure(queue_seconds=30)
    submitted = api.post(f"/{T2I}", json={"prompt": "fern"}).json()
    early = api.get(submitted["response_url"])
    assert early.status_code == 400 and "progress" in early.json()["detail"]
    assert api.get("/luma/agent/requests/no-such-id/status").status_code == 404
    assert api.get("/luma/agent/requests/no-such-id").status_code == 404
    # The id belongs to luma/agent; another app does not see it.
    assert api.get(f"/other/app/requests/{submitted['request_id']}/status").status_code == 404


def test_invalid_input_is_accepted_then_fails_with_422_detail(api: httpx.Client) -> None:
    submitted = api.post(f"/{T2V}", json={"prompt": "x", "resolution": "4k"})
    assert submitted.status_code == 200  # fal validates inside the app, after queueing
    done = wait_completed(api, submitted.json()["status_url"])
    assert "error" not in done  # app-level failures carry no gateway error fields
    result = api.get(submitted.json()["response_url"])
    assert result.status_code == 422
    detail = result.json()["detail"]
    assert any(item["loc"] == ["body", "resolution"] for item in detail)
    assert all({"loc", "msg", "type"} <= set(item) for item in detail)


def test_unknown_endpoint_and_wrong_method(api: httpx.Client) -> None:
    assert api.post("/someone/else/model", json={"prompt": "x"}).status_code == 404
    assert api.get(f"/{T2V}").status_code == 405


def test_cancel_codes_for_queued_running_done_and_unknown(api: httpx.Client, sandbox: Any) -> None:
    sandbox.configure(queue_seconds=30)
    queued = api.post(f"/{T2I}", json={"prompt": "q"}).json()
    response = api.put(queued["cancel_url"])
    assert (response.status_code, response.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    status = api.get(queued["status_url"])
    assert status.status_code == 200
    assert status.json()["error_type"] == "client_cancelled" and status.json()["status"] == "COMPLETED"
    result = api.get(queued["response_url"])
    assert result.status_code == 499 and result.json()["error_type"] == "client_cancelled"
    assert result.headers["x-fal-error-type"] == "client_cancelled"
    again = api.put(queued["cancel_url"])
    assert (again.status_code, again.json()) == (400, {"status": "ALREADY_COMPLETED"})

    sandbox.configure(queue_seconds=0, run_seconds=30)
    running = api.post(f"/{T2I}", json={"prompt": "r"}).json()
    while api.get(running["status_url"]).json()["status"] != "IN_PROGRESS":
        pass
    assert api.put(running["cancel_url"]).status_code == 202
    assert api.get(running["status_url"]).json()["error_type"] == "client_cancelled"
    assert api.get(running["response_url"]).status_code == 499

    missing = api.put("/luma/agent/requests/0000/cancel")
    assert (missing.status_code, missing.json()) == (404, {"status": "NOT_FOUND"})
    cancels = [e["cancel"] for e in sandbox.log() if "cancel" in e]
    assert [c["state_before"] for c in cancels] == ["IN_QUEUE", "COMPLETED", "IN_PROGRESS"]


def test_cancelled_queued_request_never_runs(api: httpx.Client, sandbox: Any) -> None:
    sandbox.configure(queue_seconds=0.5)
    queued = api.post(f"/{T2I}", json={"prompt": "q"}).json()
    api.put(queued["cancel_url"])
    sandbox.configure(queue_seconds=0)
    body = api.get(queued["status_url"], params={"logs": 1}).json()
    assert body["logs"] == [] and body["metrics"] == {}


def test_auth_missing_malformed_and_wrong_key(sandbox: Any) -> None:
    url = f"{sandbox.url}/{T2I}"
    missing = httpx.post(url, json={"prompt": "x"})
    assert missing.status_code == 401 and "detail" in missing.json()
    assert httpx.post(url, json={"prompt": "x"}, headers={"Authorization": "Bearer abc"}).status_code == 401
    assert httpx.post(url, json={"prompt": "x"}, headers={"Authorization": "Key"}).status_code == 401
    sandbox.configure(required_key="the-right-key")
    assert httpx.post(url, json={"prompt": "x"}, headers={"Authorization": "Key other"}).status_code == 401
    assert httpx.post(url, json={"prompt": "x"}, headers={"Authorization": "Key the-right-key"}).status_code == 200
    assert [e["auth"] for e in sandbox.log()] == ["missing", "malformed", "malformed", "invalid", "valid"]


def test_call_log_records_calls_but_never_the_key(api: httpx.Client, sandbox: Any) -> None:
    submitted = api.post(f"/{T2I}", json={"prompt": "logged"}, headers={"X-Fal-Queue-Priority": "low"}).json()
    api.get(submitted["status_url"])
    calls = sandbox.log()
    assert calls[0]["endpoint_id"] == T2I and calls[0]["payload"] == {"prompt": "logged"}
    assert calls[0]["request_id"] == submitted["request_id"] and calls[0]["status"] == 200
    assert calls[0]["headers"] == {"x-fal-queue-priority": "low"}
    assert calls[1]["point"] == "status" and calls[1]["endpoint_id"] == T2I
    raw = json.dumps(calls)
    assert TEST_KEY not in raw and TEST_KEY.split(":")[1] not in raw


def test_start_timeout_header_gives_user_504(api: httpx.Client, sandbox: Any) -> None:
    sandbox.configure(queue_seconds=30)
    submitted = api.post(f"/{T2I}", json={"prompt": "late"}, headers={"X-Fal-Request-Start-Timeout": "0.4"}).json()
    done = wait_completed(api, submitted["status_url"])
    assert done["error_type"] == "request_timeout"
    result = api.get(submitted["response_url"])
    assert result.status_code == 504
    assert result.headers["x-fal-request-timeout-type"] == "user"
    assert result.json()["error_type"] == "request_timeout"
    bad = api.post(f"/{T2I}", json={"prompt": "x"}, headers={"X-Fal-Request-Timeout": "soon"})
    assert bad.status_code == 400 and bad.json()["error_type"] == "bad_request"


def _sse_events(client: httpx.Client, url: str, logs: bool = True) -> tuple[list[dict[str, Any]], list[str], str]:
    events: list[dict[str, Any]] = []
    comments: list[str] = []
    with client.stream("GET", url, params={"logs": "1" if logs else "0"}) as response:
        content_type = response.headers["content-type"]
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
            elif line.startswith(":"):
                comments.append(line)
    return events, comments, content_type


def test_sse_stream_sends_each_change_and_closes_after_completed(api: httpx.Client, sandbox: Any) -> None:
    sandbox.configure(keepalive_seconds=0.1, queue_seconds=0.3, run_seconds=1.0)
    submitted = api.post(f"/{T2I}", json={"prompt": "stream"}).json()
    events, comments, content_type = _sse_events(api, submitted["status_url"] + "/stream")
    assert content_type.startswith("text/event-stream")
    states = [e["status"] for e in events]
    assert states[0] == "IN_QUEUE" and states[-1] == "COMPLETED" and states.count("COMPLETED") == 1
    assert "IN_PROGRESS" in states
    assert len(events[-1]["logs"]) > len(next(e for e in events if e["status"] == "IN_PROGRESS")["logs"])
    assert comments  # keep-alives while nothing changed
    # Once completed, a new stream sends the final state once and closes.
    again, _, _ = _sse_events(api, submitted["status_url"] + "/stream", logs=False)
    assert [e["status"] for e in again] == ["COMPLETED"] and again[0]["logs"] is None


def test_files_served_with_range(api: httpx.Client) -> None:
    result = run_to_result(api, T2I, {"prompt": "range"})
    url = result.json()["images"][0]["url"]
    whole = api.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "image/png"
    assert int(whole.headers["content-length"]) == len(whole.content) == result.json()["images"][0]["file_size"]
    part = api.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == whole.content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(whole.content)}"
    tail = api.get(url, headers={"Range": "bytes=-5"})
    assert tail.content == whole.content[-5:]
    assert api.get(url, headers={"Range": f"bytes={len(whole.content)}-"}).status_code == 416
    head = api.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(whole.content))
