"""Uploading input files to fal's storage, returning a URL fal's models can read.

First choice is fal's CDN-token flow (what fal's Python client does): get a short-lived CDN token
from the REST API, then POST the bytes to the CDN; a file above fal's single-shot limit goes up as a
multipart upload on the same CDN (start, 10 MiB parts in parallel, complete), each part retried alone,
so a broken connection costs one part, not the file. If that fails for a reason other than the key or
the account, fall back to the REST "initiate" flow: ask for a signed upload URL, then PUT the bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from .config import Credentials, Hosts
from .connectivity import diagnoser
from .errors import AuthError, FalError, NoCreditError, RequestFailed
from .http import TRANSFER_TIMEOUT
from .retry import RetryPolicy, send
from .stopping import ShouldStop

log = logging.getLogger(__name__)

STORAGE_TYPE = "fal-cdn-v3"
# How long fal keeps an uploaded input. The glue's upload cache (upload_cache.UPLOAD_LIFETIME_S) relies
# on this being asked for, so a cached URL is never offered after fal deleted the file.
DEFAULT_LIFETIME_S = 24 * 3600
# fal's Python client (fal_client.client, MULTIPART_THRESHOLD / MULTIPART_CHUNK_SIZE / MULTIPART_MAX_CONCURRENCY):
# files strictly above 100 MiB go up in 10 MiB parts, at most 10 at once. Fewer at once here: a user's uplink
# is one link, so more parts in flight only add memory (each part is a copy of its bytes while it is sent).
MULTIPART_THRESHOLD = 100 * 1024 * 1024
MULTIPART_PART_SIZE = 10 * 1024 * 1024
MULTIPART_PARTS_AT_ONCE = 4
# Refresh a token this long before fal says it expires, so an upload never starts with a dying token.
_TOKEN_MARGIN_S = 60.0


@dataclass(frozen=True)
class CdnToken:
    token: str
    token_type: str
    base_url: str
    expires_at: float  # time.time() seconds

    def __repr__(self) -> str:
        return f"CdnToken(token_type={self.token_type!r}, base_url={self.base_url!r}, token=<hidden>)"

    @property
    def authorization(self) -> str:
        return f"{self.token_type} {self.token}"

    def fresh(self) -> bool:
        return time.time() < self.expires_at - _TOKEN_MARGIN_S


# The uplink as this process last saw it: bytes per second of its last upload big enough to tell (a small file is
# mostly round trips). What the encoder of the next source chooses by (the speed/size trade-off of the link).
_MEASURABLE_BYTES = 1 << 20
_uplink: dict[str, float] = {}


def observed_uplink() -> float | None:
    """Bytes per second of this process's last upload of at least 1 MiB; None before there was one."""
    return _uplink.get("bytes_per_second")


def _observe(size: int, seconds: float) -> None:
    if size >= _MEASURABLE_BYTES and seconds > 0:
        _uplink["bytes_per_second"] = size / seconds


# Tokens outlive a single run; keyed by REST host and a hash of the key (never the key itself).
_token_cache: dict[tuple[str, str], CdnToken] = {}


def _cache_key(hosts: Hosts, credentials: Credentials | None) -> tuple[str, str]:
    digest = hashlib.sha256(credentials.key.encode()).hexdigest() if credentials else ""
    return hosts.rest, digest


def clear_token_cache() -> None:
    _token_cache.clear()


def _parse_expiry(raw: Any) -> float:
    if isinstance(raw, (int, float)):
        return float(raw)
    try:
        when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return time.time() + 300.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # fal sends UTC; never read a naive time as local
    return when.timestamp()


class Storage:
    def __init__(
        self,
        client: httpx.AsyncClient,
        hosts: Hosts,
        credentials: Credentials | None,
        *,
        retry: RetryPolicy | None = None,
        should_stop: ShouldStop | None = None,
        lifetime_s: int | None = DEFAULT_LIFETIME_S,
        multipart_threshold: int | None = None,
        part_size: int | None = None,
    ) -> None:
        self._client = client
        self._hosts = hosts
        self._credentials = credentials
        self._lifecycle: dict[str, str] = {}
        if lifetime_s is not None:
            # fal's clients send the same JSON under both names; older gateways read the first one.
            value = json.dumps({"expiration_duration_seconds": int(lifetime_s)})
            self._lifecycle = {"X-Fal-Object-Lifecycle": value, "X-Fal-Object-Lifecycle-Preference": value}
        self._retry = retry or RetryPolicy()
        self._should_stop = should_stop
        self._multipart_threshold = MULTIPART_THRESHOLD if multipart_threshold is None else multipart_threshold
        self._part_size = MULTIPART_PART_SIZE if part_size is None else part_size

    async def _send(self, method: str, url: str, *, kind: str, action: str, **kwargs: Any) -> httpx.Response:
        return await send(
            self._client,
            method,
            url,
            kind=kind,
            action=action,
            policy=self._retry,  # type: ignore[arg-type]
            should_stop=self._should_stop,
            diagnose=diagnoser(self._client, self._hosts, action=action),
            **kwargs,
        )

    async def upload(self, data: bytes, content_type: str, file_name: str) -> str:
        """Upload ``data`` and return its public URL."""
        started = time.monotonic()
        url = await self._upload(data, content_type or "application/octet-stream", file_name)
        _observe(len(data), time.monotonic() - started)
        return url

    async def _upload(self, data: bytes, content_type: str, file_name: str) -> str:
        try:
            token = await self.cdn_token()
        except (AuthError, NoCreditError):
            raise  # the key itself is refused: the REST flow would fail the same way
        except FalError as exc:
            log.info("no CDN upload token (%s); using fal's storage API", type(exc).__name__)
            return await self.upload_via_rest(data, content_type, file_name)
        try:
            if len(data) > self._multipart_threshold:
                return await self.upload_via_cdn_multipart(data, content_type, file_name, token)
            return await self.upload_via_cdn(data, content_type, file_name, token)
        except FalError as exc:
            if exc.status_code in (401, 403):
                # The CDN refused the token (not the key): forget it so the next upload gets a new one.
                _token_cache.pop(_cache_key(self._hosts, self._credentials), None)
            log.info("CDN upload of %s failed (%s); using fal's storage API", file_name, type(exc).__name__)
            return await self.upload_via_rest(data, content_type, file_name)

    async def cdn_token(self) -> CdnToken:
        key = _cache_key(self._hosts, self._credentials)
        cached = _token_cache.get(key)
        if cached is not None and cached.fresh():
            return cached
        action = "getting an upload token"
        response = await self._send(
            "POST",
            f"{self._hosts.rest}/storage/auth/token",
            kind="write",
            action=action,
            params={"storage_type": STORAGE_TYPE},
            json={},
        )
        body = response.json()
        try:
            token = CdnToken(
                token=str(body["token"]),
                token_type=str(body.get("token_type") or "Bearer"),
                base_url=str(body.get("base_url") or self._hosts.cdn).rstrip("/"),
                expires_at=_parse_expiry(body.get("expires_at")),
            )
        except (KeyError, TypeError) as exc:
            raise RequestFailed("fal sent an upload token answer without a token") from exc
        _token_cache[key] = token
        return token

    async def _cdn_call(self, method: str, url: str, token: CdnToken, *, action: str, headers: dict[str, str],
                        **kwargs: Any) -> httpx.Response:
        # The CDN token replaces the key on the CDN; auth=None keeps the key off these requests.
        return await self._send(method, url, kind="write", action=action, auth=None,
                                headers={**headers, "Authorization": token.authorization}, **kwargs)

    async def upload_via_cdn(
        self, data: bytes, content_type: str, file_name: str, token: CdnToken | None = None
    ) -> str:
        token = token or await self.cdn_token()
        # fal's client posts single-shot uploads to v3.fal.media itself (token base_url is for multipart);
        # with LUMA_FAL_BASE_URL everything, the CDN included, lives on that one server.
        response = await self._cdn_call(
            "POST", f"{self._hosts.cdn}/files/upload", token, action=f"uploading {file_name}", content=data,
            timeout=TRANSFER_TIMEOUT,
            headers={**self._lifecycle, "Content-Type": content_type, "X-Fal-File-Name": file_name},
        )
        url = response.json().get("access_url")
        if not url:
            raise RequestFailed(f"fal's CDN accepted {file_name} but sent no URL for it")
        return str(url)

    async def upload_via_rest(self, data: bytes, content_type: str, file_name: str) -> str:
        response = await self._send(
            "POST",
            f"{self._hosts.rest}/storage/upload/initiate",
            kind="write",
            action=f"preparing to upload {file_name}",
            params={"storage_type": STORAGE_TYPE},
            json={"file_name": file_name, "content_type": content_type},
            headers=self._lifecycle,
        )
        body = response.json()
        upload_url, file_url = body.get("upload_url"), body.get("file_url")
        if not upload_url or not file_url:
            raise RequestFailed("fal's storage API sent no upload URL")
        await self._send(
            "PUT",
            str(upload_url),
            kind="write",
            action=f"uploading {file_name}",
            content=data,
            timeout=TRANSFER_TIMEOUT,
            # A signed upload URL authorises itself (its query carries the signature) and may be on any
            # storage host: it never gets the key, wherever fal's answer points it.
            auth=None,
            headers={"Content-Type": content_type},
        )
        return str(file_url)

    async def upload_via_cdn_multipart(
        self, data: bytes, content_type: str, file_name: str, token: CdnToken | None = None
    ) -> str:
        """fal's CDN multipart flow: start at the token's base URL, PUT each part to
        ``{access_url}/multipart/{uploadId}/{n}`` (its ETag kept), then complete with every part's ETag.
        Parts go up a few at once; each is retried alone (a part PUT is idempotent: the same number again
        replaces it), so a reset mid-part resends that part only. The file exists at fal only once
        ``complete`` is accepted: a failure before leaves no file anyone is given."""
        token = token or await self.cdn_token()
        started = await self._cdn_call(
            "POST", f"{token.base_url}/files/upload/multipart", token, action=f"starting the upload of {file_name}",
            headers={**self._lifecycle, "Accept": "application/json", "Content-Type": content_type,
                     "X-Fal-File-Name": file_name},
        )
        body = started.json()
        access_url, upload_id = body.get("access_url"), body.get("uploadId")
        if not access_url or not upload_id:
            raise RequestFailed(f"fal's CDN started no multipart upload for {file_name}")
        base = f"{access_url}/multipart/{upload_id}"
        count = -(-len(data) // self._part_size)
        gate = asyncio.Semaphore(MULTIPART_PARTS_AT_ONCE)
        view = memoryview(data)

        async def part(number: int) -> dict[str, Any]:
            async with gate:
                chunk = bytes(view[(number - 1) * self._part_size:number * self._part_size])
                response = await self._cdn_call(
                    "PUT", f"{base}/{number}", token, action=f"uploading part {number} of {count} of {file_name}",
                    content=chunk, timeout=TRANSFER_TIMEOUT,
                    headers={"Content-Type": content_type, "Accept-Encoding": "identity"},
                )
            etag = response.headers.get("ETag")
            if not etag:
                raise RequestFailed(f"fal's CDN took part {number} of {file_name} without an ETag")
            return {"partNumber": number, "etag": etag}

        tasks = [asyncio.ensure_future(part(n)) for n in range(1, count + 1)]
        try:
            parts = await asyncio.gather(*tasks)
        finally:
            for task in tasks:  # one part failed: the others stop, none is left running
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        completed = await self._cdn_call(
            "POST", f"{base}/complete", token, action=f"finishing the upload of {file_name}",
            headers={"Accept": "application/json"}, json={"parts": list(parts)},
        )
        url = completed.json().get("access_url") if completed.content else None
        return str(url or access_url)
