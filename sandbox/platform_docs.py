"""fal's model documents as the sandbox serves them: per-endpoint OpenAPI, unit prices, account balance.

By default they are the snapshot bundled with the pack (``nodes/luma/bundled/fal_openapi.json`` and
``nodes/luma/prices.json``), i.e. what fal published last. ``POST /_sandbox/platform`` makes them drift
(an enum shrinks, a field goes away or becomes required), changes prices, or makes a document answer
404/500, so tests can show the pack adapting without a release.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_LUMA = Path(__file__).resolve().parent.parent / "nodes" / "luma"
_SETTINGS = ("openapi", "openapi_status", "enum_drift", "drop_fields", "require_fields", "prices",
             "pricing_status", "balance", "currency", "billing_status", "key_scopes", "billing_factor")


def _bundled_openapi() -> dict[str, Any]:
    return json.loads((_LUMA / "bundled" / "fal_openapi.json").read_text(encoding="utf-8"))["endpoints"]


def _bundled_prices() -> dict[str, dict[str, Any]]:
    table = json.loads((_LUMA / "prices.json").read_text(encoding="utf-8"))
    return {ep: {"unit_price": e["unit_price"], "unit": e["unit"]} for ep, e in table["endpoints"].items()}


def _input_schema(doc: dict[str, Any], endpoint_id: str) -> dict[str, Any]:
    ref = doc["paths"][f"/{endpoint_id}"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]


@dataclass
class PlatformDocs:
    openapi: dict[str, Any] = field(default_factory=dict)          # endpoint -> whole replacement doc
    openapi_status: dict[str, int] = field(default_factory=dict)   # endpoint or "*" -> HTTP status
    enum_drift: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    drop_fields: dict[str, list[str]] = field(default_factory=dict)
    require_fields: dict[str, list[str]] = field(default_factory=dict)
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)  # endpoint -> {unit_price, unit}
    pricing_status: int | None = None
    balance: float = 100.0
    currency: str = "USD"
    billing_status: int | None = None
    # What the sandbox's key may read of fal's records (records.py): "requests" (a user key's read
    # access to its request history) and "billing" (an admin key's billing events). Without one: 403.
    key_scopes: list[str] = field(default_factory=lambda: ["requests", "billing"])
    billing_factor: float = 1.0  # fal's bill = the price table's figure x this (drift for tests)

    def update(self, changes: dict[str, Any]) -> None:
        unknown = sorted(set(changes) - set(_SETTINGS))
        if unknown:
            raise ValueError(f"unknown platform setting(s) {unknown}; known: {list(_SETTINGS)}")
        for name, value in changes.items():
            if name in ("openapi_status",) and not isinstance(value, dict):
                raise ValueError("openapi_status must be {endpoint_id or '*': status}")
            if name == "key_scopes" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise ValueError("key_scopes must be a list like ['requests', 'billing']")
            if name == "billing_factor" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError("billing_factor must be a number")
            if name == "balance" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError("balance must be a number")
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _SETTINGS}

    def openapi_doc(self, endpoint_id: str) -> tuple[int, Any]:
        status = self.openapi_status.get(endpoint_id, self.openapi_status.get("*"))
        if status is not None:
            return status, {"detail": "Not Found" if status == 404 else "Internal Server Error"}
        if endpoint_id in self.openapi:
            return 200, self.openapi[endpoint_id]
        bundled = _bundled_openapi()
        if endpoint_id not in bundled:
            return 404, {"detail": f"Endpoint {endpoint_id} not found"}
        doc = copy.deepcopy(bundled[endpoint_id])
        schema = _input_schema(doc, endpoint_id)
        for name, values in self.enum_drift.get(endpoint_id, {}).items():
            schema["properties"].setdefault(name, {"type": "string"})["enum"] = list(values)
        for name in self.drop_fields.get(endpoint_id, []):
            schema["properties"].pop(name, None)
            schema["required"] = [r for r in schema.get("required", []) if r != name]
        for name in self.require_fields.get(endpoint_id, []):
            schema["properties"].setdefault(name, {"type": "string"})
            schema["required"] = sorted({*schema.get("required", []), name})
        return 200, doc

    def pricing_doc(self, endpoint_ids: list[str]) -> tuple[int, Any]:
        if self.pricing_status is not None:
            return self.pricing_status, {"detail": "Internal Server Error"}
        if not 1 <= len(endpoint_ids) <= 50:
            return 422, {"detail": "endpoint_id: give 1 to 50 endpoint ids"}
        table = {**_bundled_prices(), **self.prices}
        items = [{"endpoint_id": ep, "unit_price": table[ep]["unit_price"], "unit": table[ep]["unit"],
                  "currency": table[ep].get("currency", "USD")} for ep in endpoint_ids if ep in table]
        return 200, {"prices": items, "next_cursor": None, "has_more": False}

    def billing_doc(self) -> tuple[int, Any]:
        if self.billing_status is not None:
            return self.billing_status, {"detail": "Forbidden: this key has no billing access"
                                         if self.billing_status == 403 else "Unauthorized"}
        return 200, {"username": "sandbox", "credits": {"current_balance": self.balance, "currency": self.currency}}

    def current_schema(self, endpoint_id: str) -> Any:
        """The input schema the sandbox's queue enforces (what it serves), or None when it serves none."""
        status, doc = self.openapi_doc(endpoint_id)
        return doc if status == 200 else None
