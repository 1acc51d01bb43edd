"""Input validation through the pack's own catalogue, so the sandbox refuses what the pack refuses.

Like fal's apps (pydantic models that ignore extra fields), a field the endpoint does not define is
ignored, not refused: fal ran a reframe payload carrying ``duration`` and returned a video. The pack's own
models stay strict; only the sandbox leaves unknown fields out before it validates.

The catalogue (``nodes.luma.catalog``) is imported lazily; while it is missing (it is written in
parallel) a minimal check stands in: the prompt must be a non-empty string.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def problems_for(endpoint_id: str, payload: Any, served_schema: Any = None) -> list[dict[str, Any]]:
    """fal's 422 ``detail`` items for ``payload``; empty when the input is acceptable. ``served_schema``
    (the OpenAPI document the sandbox serves for the endpoint) adds fal's current enums and required fields."""
    if not isinstance(payload, dict):
        return [{"loc": ["body"], "msg": "Input should be a valid dictionary", "type": "dict_type"}]
    try:
        from nodes.luma.catalog import build_request, fal_detail, request_model_for
        from nodes.luma.errors import RequestInvalid
    except ImportError:
        log.debug("nodes.luma.catalog not importable; using the minimal prompt check")
        return _minimal_problems(payload)
    payload = known_fields(endpoint_id, payload, request_model_for(endpoint_id).model_fields)
    try:
        build_request(endpoint_id, payload)
    except RequestInvalid as exc:
        return list(fal_detail(exc))
    if served_schema is not None:
        from nodes.luma.fal_schema import check_payload, parse_openapi

        verdict = check_payload(payload, parse_openapi(endpoint_id, served_schema, "sandbox"))
        return list(fal_detail(RequestInvalid(verdict.problems))) if verdict.problems else []
    return []


def known_fields(endpoint_id: str, payload: dict[str, Any], fields: Any) -> dict[str, Any]:
    """``payload`` without the fields the endpoint does not define (fal ignores them)."""
    kept = {k: v for k, v in payload.items() if k in fields}
    if len(kept) != len(payload):
        log.info("%s: ignoring fields it does not define: %s", endpoint_id, sorted(set(payload) - set(kept)))
    return kept


def _minimal_problems(payload: dict[str, Any]) -> list[dict[str, Any]]:
    prompt = payload.get("prompt")
    if prompt is None:
        return [{"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}]
    if not isinstance(prompt, str) or not prompt.strip():
        return [{"loc": ["body", "prompt"], "msg": "String should have at least 1 character",
                 "type": "string_too_short"}]
    return []
