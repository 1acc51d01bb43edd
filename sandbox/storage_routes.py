"""fal's upload flows: CDN token + v3 upload (single and multipart), and REST signed-URL initiate."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from .gateway import ENTRY, key_status
from .replies import json_reply
from .state import STATE, SandboxState
from .store import StoredFile, safe_file_name
from .uplink import read_upload
from .urls import cdn_base, own_base

TOKEN_LIFETIME = timedelta(hours=1)


def _log_upload(request: web.Request, flow: str, size: int, content_type: str | None,
                file_name: str | None) -> None:
    request[ENTRY]["upload"] = {"flow": flow, "size": size, "content_type": content_type, "file_name": file_name}


def _file_json(request: web.Request, stored: StoredFile) -> dict[str, Any]:
    return {"access_url": cdn_base(request) + stored.path, "content_type": stored.content_type,
            "file_name": stored.file_name, "file_size": stored.size}


def _cdn_authorized(request: web.Request, state: SandboxState) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return token in state.cdn_tokens
    return key_status(request, state) == "valid"


def _cdn_refusal() -> web.Response:
    return json_reply(401, {"detail": "Invalid or missing CDN token"})


async def auth_token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    expires = datetime.now(timezone.utc) + TOKEN_LIFETIME
    return json_reply(200, {"token": state.issue_cdn_token(), "token_type": "Bearer",
                            "base_url": cdn_base(request), "expires_at": expires.isoformat()})


async def _initiate_body(request: web.Request) -> tuple[str, str] | web.Response:
    try:
        body = json.loads(await request.read() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        return json_reply(422, {"detail": [{"loc": ["body"], "msg": "Invalid JSON body", "type": "json_invalid"}]})
    content_type = str(body.get("content_type") or "application/octet-stream")
    return safe_file_name(body.get("file_name")), content_type


async def initiate(request: web.Request) -> web.Response:
    parsed = await _initiate_body(request)
    if isinstance(parsed, web.Response):
        return parsed
    state = request.app[STATE]
    upload_id, path = state.store.reserve(*parsed)
    signature = secrets.token_hex(8)
    base = state.config.upload_urls_at or own_base(request)
    return json_reply(200, {"upload_url": f"{base}/storage/put/{upload_id}?X-Signature={signature}",
                            "file_url": cdn_base(request) + path})


async def initiate_multipart(request: web.Request) -> web.Response:
    parsed = await _initiate_body(request)
    if isinstance(parsed, web.Response):
        return parsed
    upload_id, path = request.app[STATE].store.start_multipart(*parsed)
    signature = secrets.token_hex(8)
    return json_reply(200, {"upload_url": f"{own_base(request)}/storage/multipart/{upload_id}?X-Signature={signature}",
                            "file_url": cdn_base(request) + path})


async def signed_put(request: web.Request) -> web.Response:
    # Signed URLs ignore any Authorization header, as GCS does for fal's URLs.
    data = await read_upload(request)
    content_type = request.headers.get("Content-Type")
    stored = request.app[STATE].store.fill_reserved(request.match_info["upload_id"], data, content_type)
    _log_upload(request, "rest", len(data), content_type, stored.file_name if stored else None)
    if stored is None:
        return json_reply(404, {"detail": "Unknown or already used upload URL"})
    return web.Response(status=200)


async def rest_part(request: web.Request) -> web.Response:
    return await _part(request, request.match_info["upload_id"], request.match_info["part"], "rest-multipart")


async def rest_complete(request: web.Request) -> web.Response:
    stored = request.app[STATE].store.complete_multipart(request.match_info["upload_id"])
    if stored is None:
        return json_reply(404, {"detail": "Unknown upload"})
    return json_reply(200, {"file_url": cdn_base(request) + stored.path})


async def _part(request: web.Request, upload_id: str, part: str, flow: str) -> web.Response:
    if not part.isdigit() or int(part) < 1:
        return json_reply(400, {"detail": "Part numbers start at 1"})
    data = await read_upload(request)
    etag = request.app[STATE].store.add_part(upload_id, int(part), data)
    _log_upload(request, flow, len(data), request.headers.get("Content-Type"), None)
    if etag is None:
        return json_reply(404, {"detail": "Unknown upload"})
    return json_reply(200, {"partNumber": int(part), "etag": etag}, headers={"ETag": etag})


async def cdn_upload(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if not _cdn_authorized(request, state):
        return _cdn_refusal()
    data = await read_upload(request)
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    name = request.headers.get("X-Fal-File-Name")
    _log_upload(request, "cdn", len(data), content_type, name)
    stored = state.store.put(data, content_type, safe_file_name(name))
    return json_reply(200, _file_json(request, stored))


async def cdn_multipart_start(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if not _cdn_authorized(request, state):
        return _cdn_refusal()
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    upload_id, path = state.store.start_multipart(request.headers.get("X-Fal-File-Name") or "upload.bin",
                                                  content_type)
    return json_reply(200, {"access_url": cdn_base(request) + path, "uploadId": upload_id})


async def cdn_multipart_step(request: web.Request) -> web.Response:
    """PUT <file>/multipart/<uploadId>/<n> and POST <file>/multipart/<uploadId>/complete."""
    state = request.app[STATE]
    head, marker, tail = request.path.rpartition("/multipart/")
    upload_id, _, step = tail.partition("/")
    if not marker or not upload_id or not step:
        return json_reply(404, {"detail": "Not Found"})
    if not _cdn_authorized(request, state):
        return _cdn_refusal()
    if request.method == "PUT":
        return await _part(request, upload_id, step, "cdn-multipart")
    if step != "complete":
        return json_reply(404, {"detail": "Not Found"})
    stored = state.store.complete_multipart(upload_id)
    if stored is None or stored.path != head:
        return json_reply(404, {"detail": "Unknown upload"})
    _log_upload(request, "cdn-multipart", stored.size, stored.content_type, stored.file_name)
    return json_reply(200, _file_json(request, stored))
