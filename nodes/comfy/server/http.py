"""What every route of the pack shares: a JSON answer the browser never caches, and one capped JSON-body reader.

The reader counts the bytes it reads instead of trusting ``Content-Length``: a chunked POST carries no
length, and without a cap aiohttp would read it up to ComfyUI's upload limit (100 MB by default).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


class BodyRefused(Exception):
    """The body is not a small JSON document; ``response`` says why (413, 415 or 400)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def no_store(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


def error_reply(message: str, status: int) -> web.Response:
    return no_store({"error": message}, status)


async def read_json(request: web.Request, max_bytes: int, *, not_json: str,
                    too_large: str = "request body too large", empty: bytes = b"") -> Any:
    """The parsed body of a JSON request of at most ``max_bytes`` (``empty`` stands for no body).

    Requiring ``application/json`` means a cross-site form cannot post it without a CORS preflight;
    ``not_json`` is the 415 message that says what to send instead.
    """
    if request.content_type != "application/json":
        raise BodyRefused(error_reply(not_json, 415))
    if request.content_length is not None and request.content_length > max_bytes:
        raise BodyRefused(error_reply(too_large, 413))  # refused before reading a byte
    raw = b""
    while chunk := await request.content.read(max_bytes + 1 - len(raw)):
        raw += chunk
        if len(raw) > max_bytes:
            raise BodyRefused(error_reply(too_large, 413))
    try:
        return json.loads(raw or empty)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BodyRefused(error_reply("request body is not valid JSON", 400)) from None
