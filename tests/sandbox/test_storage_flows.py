"""The three upload flows over raw HTTP, each file read back (with a Range) from the CDN path."""

from __future__ import annotations

from typing import Any

import httpx

from tests.sandbox.helpers import TEST_KEY

KEY = {"Authorization": f"Key {TEST_KEY}"}


def _read_back(url: str, expected: bytes, content_type: str) -> None:
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.content == expected
    assert whole.headers["content-type"] == content_type
    assert whole.headers["content-length"] == str(len(expected))
    part = httpx.get(url, headers={"Range": "bytes=3-7"})
    assert part.status_code == 206 and part.content == expected[3:8]


def test_cdn_token_then_single_upload(sandbox: Any) -> None:
    token = httpx.post(f"{sandbox.url}/storage/auth/token", params={"storage_type": "fal-cdn-v3"}, json={},
                       headers=KEY).json()
    assert token["token_type"] == "Bearer" and token["base_url"] == sandbox.url
    assert token["expires_at"].endswith("+00:00")
    data = b"single shot upload " * 100
    bearer = {"Authorization": f"Bearer {token['token']}", "Content-Type": "image/webp", "X-Fal-File-Name": "a b.webp"}
    uploaded = httpx.post(f"{token['base_url']}/files/upload", content=data, headers=bearer).json()
    assert uploaded["file_size"] == len(data) and uploaded["file_name"] == "a_b.webp"
    _read_back(uploaded["access_url"], data, "image/webp")
    refused = httpx.post(f"{sandbox.url}/files/upload", content=b"x", headers={"Authorization": "Bearer forged"})
    assert refused.status_code == 401
    entry = next(e for e in sandbox.log() if e.get("upload"))
    assert entry["upload"] == {"flow": "cdn", "size": len(data), "content_type": "image/webp", "file_name": "a b.webp"}
    assert entry["auth"] == "malformed"  # a Bearer token is not a key; the log never shows either


def test_cdn_multipart_parts_in_any_order(sandbox: Any) -> None:
    token = httpx.post(f"{sandbox.url}/storage/auth/token", json={}, headers=KEY).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    started = httpx.post(f"{sandbox.url}/files/upload/multipart",
                         headers={**auth, "Content-Type": "video/mp4", "X-Fal-File-Name": "big.mp4"}).json()
    chunks = [b"A" * 1000, b"B" * 1000, b"C" * 10]
    etags = {}
    for number in (2, 3, 1):
        part = httpx.put(f"{started['access_url']}/multipart/{started['uploadId']}/{number}",
                         content=chunks[number - 1], headers=auth)
        assert part.status_code == 200
        etags[number] = part.headers["etag"]
        assert etags[number].startswith('"')
    done = httpx.post(f"{started['access_url']}/multipart/{started['uploadId']}/complete", headers=auth,
                      json={"parts": [{"partNumber": n, "etag": e} for n, e in etags.items()]})
    assert done.status_code == 200
    _read_back(started["access_url"], b"".join(chunks), "video/mp4")


def test_rest_initiate_and_signed_put(sandbox: Any) -> None:
    init = httpx.post(f"{sandbox.url}/storage/upload/initiate", params={"storage_type": "gcs"},
                      json={"file_name": "ref.png", "content_type": "image/png"}, headers=KEY).json()
    data = b"\x89PNG rest upload body"
    # The signed URL ignores Authorization (the Python client sends its key along anyway).
    put = httpx.put(init["upload_url"], content=data, headers={"Content-Type": "image/png", **KEY})
    assert put.status_code == 200
    _read_back(init["file_url"], data, "image/png")
    assert httpx.put(init["upload_url"], content=b"again").status_code == 404
    assert httpx.post(f"{sandbox.url}/storage/upload/initiate", json={}).status_code == 401


def test_rest_initiate_multipart_js_style(sandbox: Any) -> None:
    init = httpx.post(f"{sandbox.url}/storage/upload/initiate-multipart", params={"storage_type": "fal-cdn-v3"},
                      json={"file_name": "clip.mp4", "content_type": "video/mp4"}, headers=KEY).json()
    upload = httpx.URL(init["upload_url"])
    parts = []
    for number, chunk in enumerate((b"x" * 2048, b"y" * 7), start=1):
        response = httpx.put(upload.copy_with(path=f"{upload.path}/{number}"), content=chunk)
        assert response.json()["partNumber"] == number and response.json()["etag"]
        parts.append(response.json())
    done = httpx.post(upload.copy_with(path=f"{upload.path}/complete"), json={"parts": parts})
    assert done.status_code == 200
    _read_back(init["file_url"], b"x" * 2048 + b"y" * 7, "video/mp4")


def _token(sandbox: Any) -> str:
    return httpx.post(f"{sandbox.url}/storage/auth/token", json={}, headers=KEY).json()["token"]


def test_throttled_uplink_keeps_every_byte_and_takes_its_time(sandbox: Any) -> None:
    """A paced upload arrives whole (single-shot and each multipart part), and the sandbox never answers
    before the body could have crossed the link: size / rate is a lower bound of the sleep it does."""
    import time

    rate = 400_000.0
    sandbox.configure(upload_bytes_per_second=rate)
    auth = {"Authorization": f"Bearer {_token(sandbox)}"}
    data = bytes(range(256)) * 800  # 200 kB: half a second at the rate
    started = time.monotonic()
    uploaded = httpx.post(f"{sandbox.url}/files/upload", content=data, headers={**auth, "Content-Type": "video/mp4"},
                          timeout=30).json()
    assert time.monotonic() - started >= len(data) / rate
    _read_back(uploaded["access_url"], data, "video/mp4")
    begun = httpx.post(f"{sandbox.url}/files/upload/multipart", headers={**auth, "Content-Type": "video/mp4"}).json()
    halves = [data[:120_000], data[120_000:]]
    parts = [{"partNumber": n, "etag": httpx.put(f"{begun['access_url']}/multipart/{begun['uploadId']}/{n}",
                                                 content=halves[n - 1], headers=auth, timeout=30).headers["etag"]}
             for n in (1, 2)]
    assert httpx.post(f"{begun['access_url']}/multipart/{begun['uploadId']}/complete", headers=auth,
                      json={"parts": parts}).status_code == 200
    _read_back(begun["access_url"], data, "video/mp4")


def test_shared_uplink_gives_parallel_uploads_one_link(sandbox: Any) -> None:
    """With upload_link_shared, two uploads at once take as long as their bytes together at the rate."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    rate = 400_000.0
    sandbox.configure(upload_bytes_per_second=rate, upload_link_shared=True)
    auth = {"Authorization": f"Bearer {_token(sandbox)}"}
    bodies = [b"a" * 150_000, b"b" * 150_000]
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda body: httpx.post(f"{sandbox.url}/files/upload", content=body, headers=auth,
                                                        timeout=30), bodies))
    assert time.monotonic() - started >= sum(map(len, bodies)) / rate
    for body, answer in zip(bodies, answers, strict=True):
        _read_back(answer.json()["access_url"], body, "application/octet-stream")


def test_uplink_options_are_checked(sandbox: Any) -> None:
    refused = httpx.post(f"{sandbox.url}/_sandbox/config", json={"upload_bytes_per_second": -1})
    assert refused.status_code == 400 and "upload_bytes_per_second" in refused.text
    refused = httpx.post(f"{sandbox.url}/_sandbox/config", json={"upload_link_shared": "yes"})
    assert refused.status_code == 400 and "upload_link_shared" in refused.text
