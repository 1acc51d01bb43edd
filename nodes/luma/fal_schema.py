"""fal's own input schema for an endpoint (its per-endpoint OpenAPI document), read and applied.

fal publishes the schema each endpoint accepts *now* (``/api/openapi/queue/openapi.json?endpoint_id=…``)
and has changed it since launch (notes fal-drift-money-recovery §1). The request models in ``ray32``/
``uni1`` keep the launch-time shape, so saved workflows keep loading; this module checks a built payload
against whichever schema is current (live, cached or the bundled snapshot in ``bundled/fal_openapi.json``)
so an option fal stopped accepting is refused before anything is uploaded, a field fal dropped is not
sent, and a field fal newly requires is reported. No HTTP here: the glue fetches, this module reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import Problem

BUNDLED_SCHEMAS_PATH = Path(__file__).with_name("bundled") / "fal_openapi.json"


class SchemaUnreadable(ValueError):
    """The document is not an OpenAPI document with an input schema for the endpoint."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    enum: tuple[Any, ...] | None = None   # None: any value of the type
    type: str | None = None


@dataclass(frozen=True)
class EndpointSchema:
    endpoint_id: str
    fields: dict[str, FieldSpec]
    required: frozenset[str]
    source: str = "bundled"   # words for messages: "live", "cached 2026-11-27", "bundled 2026-10"


@dataclass
class SchemaVerdict:
    problems: list[Problem] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)   # payload fields fal no longer takes (not sent)
    payload: dict[str, Any] = field(default_factory=dict)  # the payload to send (dropped fields removed)


def _resolve(node: Any, root: Mapping[str, Any], depth: int = 0) -> Any:
    """Follow ``$ref`` (local refs only) and flatten ``allOf``; fal wraps enums this way."""
    if depth > 20 or not isinstance(node, Mapping):
        return node
    if "$ref" in node:
        ref = str(node["$ref"])
        if not ref.startswith("#/"):
            return {}
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return _resolve(target, root, depth + 1)
    if "allOf" in node and isinstance(node["allOf"], list):
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            merged.update(_resolve(part, root, depth + 1) or {})
        return merged
    return node


def _field_spec(name: str, prop: Any, root: Mapping[str, Any]) -> FieldSpec:
    prop = _resolve(prop, root)
    options = [prop]
    for key in ("anyOf", "oneOf"):
        if isinstance(prop, Mapping) and isinstance(prop.get(key), list):
            options = [_resolve(p, root) for p in prop[key]]
    enum: list[Any] = []
    open_ended = False
    types: list[str] = []
    for option in options:
        if not isinstance(option, Mapping):
            continue
        kind = option.get("type")
        if kind == "null":
            continue  # Optional[...] in fal's pydantic-made schemas
        if isinstance(kind, str):
            types.append(kind)
        if isinstance(option.get("enum"), list):
            enum += option["enum"]
        elif "const" in option:
            enum.append(option["const"])
        else:
            open_ended = True
    return FieldSpec(name, None if open_ended or not enum else tuple(enum), types[0] if types else None)


def _input_schema(endpoint_id: str, doc: Mapping[str, Any]) -> Mapping[str, Any]:
    paths = doc.get("paths") if isinstance(doc.get("paths"), Mapping) else {}
    post = (paths.get(f"/{endpoint_id}") or {}).get("post") if isinstance(paths, Mapping) else None
    if isinstance(post, Mapping):
        content = ((post.get("requestBody") or {}).get("content") or {}).get("application/json") or {}
        schema = _resolve(content.get("schema"), doc)
        if isinstance(schema, Mapping) and isinstance(schema.get("properties"), Mapping):
            return schema
    # Fallback: the one component schema named "...Input" (what fal's clients and other packs look for).
    schemas = ((doc.get("components") or {}).get("schemas") or {}) if isinstance(doc.get("components"), Mapping) else {}
    inputs = [s for n, s in schemas.items() if n.endswith("Input") and isinstance(s, Mapping)]
    if len(inputs) == 1 and isinstance(inputs[0].get("properties"), Mapping):
        return inputs[0]
    raise SchemaUnreadable(f"fal's OpenAPI document for {endpoint_id} has no input schema")


def parse_openapi(endpoint_id: str, doc: Any, source: str = "live") -> EndpointSchema:
    """The input fields, their allowed values and the required set, from fal's per-endpoint OpenAPI."""
    if not isinstance(doc, Mapping):
        raise SchemaUnreadable(f"fal's OpenAPI document for {endpoint_id} is not a JSON object")
    schema = _input_schema(endpoint_id, doc)
    fields = {name: _field_spec(name, prop, doc) for name, prop in schema["properties"].items()}
    required = frozenset(str(r) for r in schema.get("required") or [])
    return EndpointSchema(endpoint_id, fields, required, source)


@lru_cache(maxsize=1)
def bundled_documents() -> dict[str, Any]:
    """endpoint id -> the OpenAPI document shipped with the pack (fal's generation (B), Oct 2026)."""
    data = json.loads(BUNDLED_SCHEMAS_PATH.read_text(encoding="utf-8"))
    return data["endpoints"]


def bundled_as_of() -> str:
    return str(json.loads(BUNDLED_SCHEMAS_PATH.read_text(encoding="utf-8")).get("as_of", "?"))


def bundled_schema(endpoint_id: str) -> EndpointSchema | None:
    doc = bundled_documents().get(endpoint_id)
    return parse_openapi(endpoint_id, doc, f"bundled {bundled_as_of()}") if doc else None


def _listed(values: tuple[Any, ...]) -> str:
    return ", ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in values)


def check_payload(payload: Mapping[str, Any], schema: EndpointSchema) -> SchemaVerdict:
    """Apply fal's current schema to a payload the request model already accepted.

    * a value outside a field's current enum -> a Problem naming what fal accepts now;
    * a payload field the schema no longer has -> dropped (fal would ignore or refuse it);
    * a required field the payload lacks -> a Problem (the pack cannot know what to send).
    """
    verdict = SchemaVerdict()
    where = f"fal's current schema for {schema.endpoint_id} ({schema.source})"
    for name, value in payload.items():
        spec = schema.fields.get(name)
        if spec is None:
            verdict.dropped.append(name)
            continue
        verdict.payload[name] = value
        if spec.enum is not None and not isinstance(value, (list, dict)) and value not in spec.enum:
            verdict.problems.append(Problem(
                name, f"fal changed this option: {value} is no longer accepted; {where} accepts "
                f"{_listed(spec.enum)}", "fal_option_removed"))
    for name in sorted(schema.required - set(payload)):
        verdict.problems.append(Problem(
            name, f"fal now requires this input, which this version of the pack does not send ({where}); "
            "update comfyui-luma-fal", "fal_field_required", fal_type="missing", fal_msg="Field required"))
    return verdict
