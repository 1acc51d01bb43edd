"""The sandbox's second origin, URLs pointed at it, and the slow / redirect faults (for issue 9's tests)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sandbox.helpers import TEST_KEY, run_to_result

T2I = "luma/agent/uni-1/v1/text-to-image"


def _host(url: str) -> str:
    return url.split("://", 1)[1]


def test_second_origin_is_the_same_server_on_another_port(api: httpx.Client, sandbox: Any) -> None:
    other = sandbox.second_origin()
    assert other != sandbox.url and other == sandbox.second_origin()  # opened once, then reused
    assert _host(other).split(":")[0] == _host(sandbox.url).split(":")[0]
    submitted = api.post(f"/{T2I}", json={"prompt": "x"}).json()
    answer = httpx.get(submitted["status_url"].replace(sandbox.url, other))  # no key sent
    assert answer.status_code == 401  # same app: the keyed API refuses a call without the key
    seen = {(c["host"], c["auth"]) for c in sandbox.log() if c["point"] in ("submit", "status")}
    assert seen == {(_host(sandbox.url), "valid"), (_host(other), "missing")}


def test_returned_urls_can_point_at_another_origin(api: httpx.Client, sandbox: Any) -> None:
    other = sandbox.second_origin()
    sandbox.configure(queue_urls_at=other, file_urls_at=other, upload_urls_at=other)
    submitted = api.post(f"/{T2I}", json={"prompt": "x"}).json()
    for name in ("status_url", "response_url", "cancel_url"):
        assert submitted[name].startswith(other + "/luma/agent/requests/"), submitted
    initiated = api.post("/storage/upload/initiate", params={"storage_type": "fal-cdn-v3"},
                         json={"file_name": "a.png", "content_type": "image/png"}).json()
    assert initiated["upload_url"].startswith(other + "/storage/put/")
    sandbox.configure(queue_urls_at=None, file_urls_at=None, upload_urls_at=None)
    body = run_to_result(api, T2I, {"prompt": "x"}).json()
    assert body["images"][0]["url"].startswith(sandbox.url)  # defaults: this server, as fal does
    for bad in ({"queue_urls_at": "ftp://x"}, {"file_urls_at": 3}):
        assert httpx.post(f"{sandbox.url}/_sandbox/config", json=bad).status_code == 400


def test_file_urls_at_another_origin_serve_the_result(api: httpx.Client, sandbox: Any) -> None:
    other = sandbox.second_origin()
    sandbox.configure(file_urls_at=other)
    url = run_to_result(api, T2I, {"prompt": "x"}).json()["images"][0]["url"]
    assert url.startswith(other)
    image = httpx.get(url)
    assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_slow_fault_answers_late_and_trickles_downloads(api: httpx.Client, sandbox: Any) -> None:
    url = run_to_result(api, T2I, {"prompt": "x"}).json()["images"][0]["url"]
    sandbox.inject({"point": "download", "kind": "slow", "seconds": 30})
    with httpx.stream("GET", url, timeout=httpx.Timeout(5.0)) as response:
        length = int(response.headers["content-length"])
        first = next(response.iter_raw())  # the first piece arrives at once, the rest over 30 s
    assert response.status_code == 200 and 0 < len(first) < length
    sandbox.inject({"point": "status", "kind": "slow", "seconds": 3})
    submitted = api.post(f"/{T2I}", json={"prompt": "x"}).json()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(submitted["status_url"], headers={"Authorization": f"Key {TEST_KEY}"}, timeout=0.5)
    assert sandbox.pending_faults() == []


def test_redirect_fault_sends_a_307_keeping_path_and_query(api: httpx.Client, sandbox: Any) -> None:
    other = sandbox.second_origin()
    sandbox.inject({"point": "status", "kind": "redirect", "location": other})
    submitted = api.post(f"/{T2I}", json={"prompt": "x"}).json()
    answer = api.get(submitted["status_url"], params={"logs": "1"})
    assert answer.status_code == 307
    assert answer.headers["location"] == submitted["status_url"].replace(sandbox.url, other) + "?logs=1"
    for bad in ({"kind": "redirect"}, {"kind": "redirect", "location": "ftp://x"}, {"kind": "slow"},
                {"kind": "slow", "seconds": 0}):
        response = httpx.post(f"{sandbox.url}/_sandbox/faults", json={"faults": [{"point": "status", **bad}]})
        assert response.status_code == 400, bad
