"""Fault rules: what ``POST /_sandbox/faults`` accepts and how rules are matched and consumed.

A rule is consumed by one matching call; ``times`` says how many calls it affects. Rules are
tried in the order they were added, so a test can queue "429 twice, then a drop".
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

POINTS = ("submit", "status", "stream", "result", "download", "upload", "cancel", "openapi", "pricing", "billing",
          "requests", "billing_events")

# kind -> points where it makes sense. Gateway-style kinds work everywhere; the rest shape one
# request's outcome (consumed at submit) or one transfer.
KIND_POINTS: dict[str, tuple[str, ...]] = {
    "http": POINTS,
    "no_credit": POINTS,
    "drop": POINTS,
    "slow": POINTS,
    "redirect": POINTS,
    "delay": POINTS,
    "stop_midway": ("stream",),
    "stuck_in_queue": ("submit",),
    "completed_with_error": ("submit",),
    "result_500": ("submit",),
    "moderation": ("submit",),
    # fal accepted the submit (the request exists and runs) but its answer is lost: a connection reset
    # (no status, no seconds), a gateway page (status 502/504), or an answer later than ``seconds``.
    "after_accept": ("submit",),
    "expired_url": ("download",),
    "truncated": ("download",),
    "ignore_range": ("download",),  # the file server answers a Range request with 200 and the whole body
}
# Kinds answered at the gateway before any handler logic runs.
GATEWAY_KINDS = ("http", "no_credit", "drop", "slow", "redirect", "delay")
# Kinds that decide how a submitted request ends.
OUTCOME_KINDS = ("stuck_in_queue", "completed_with_error", "result_500", "moderation")


@dataclass
class Fault:
    point: str
    kind: str
    times: int = 1
    # http / no_credit / completed_with_error: the HTTP status to answer with.
    status: int | None = None
    # http: "json" (fal's JSON error with x-fal-request-id) or "nginx" (HTML page, no request id).
    style: str | None = None
    retry_after: float | None = None
    detail: Any = None
    error_type: str | None = None
    # completed_with_error: the gateway's error text shown in the COMPLETED status.
    error: str | None = None
    # truncated: "short" (honest Content-Length of a cut body) or "drop" (full length, dropped).
    mode: str | None = None
    # download drop/truncated: fraction of the body that is sent (0..1).
    fraction: float = 0.5
    # slow: seconds before the answer (download: the body trickles in over this time);
    # delay: seconds to wait before the call is handled as usual (a slow upload, submit or download).
    seconds: float | None = None
    # redirect: the origin (scheme://host:port) a 307 sends the call to; the path and query are kept.
    location: str | None = None
    # Optional narrowing: only calls for this endpoint id / whose path contains this text.
    endpoint_id: str | None = None
    path_contains: str | None = None

    def matches(self, point: str, endpoint_id: str | None, path: str) -> bool:
        if self.point != point:
            return False
        if self.endpoint_id is not None and self.endpoint_id != endpoint_id:
            return False
        return self.path_contains is None or self.path_contains in path

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def parse_fault(raw: Any) -> Fault:
    """Build a rule from its JSON form; raises ValueError naming the bad field."""
    if not isinstance(raw, dict):
        raise ValueError("each fault must be a JSON object")
    known = {f.name for f in dataclasses.fields(Fault)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown fault fields {sorted(unknown)}; known: {sorted(known)}")
    point, kind = raw.get("point"), raw.get("kind")
    if kind not in KIND_POINTS:
        raise ValueError(f"kind must be one of {sorted(KIND_POINTS)}, got {kind!r}")
    if point is None and len(KIND_POINTS[kind]) == 1:
        raw = {**raw, "point": KIND_POINTS[kind][0]}
        point = raw["point"]
    if point not in KIND_POINTS[kind]:
        raise ValueError(f"kind {kind!r} works at points {list(KIND_POINTS[kind])}, got {point!r}")
    fault = Fault(**raw)
    if not isinstance(fault.times, int) or fault.times < 1:
        raise ValueError("times must be an integer >= 1")
    if kind == "http" and not isinstance(fault.status, int):
        raise ValueError("kind 'http' needs an integer status")
    if fault.style not in (None, "json", "nginx"):
        raise ValueError("style must be 'json' or 'nginx'")
    if fault.mode not in (None, "short", "drop"):
        raise ValueError("mode must be 'short' or 'drop'")
    if fault.seconds is not None and (isinstance(fault.seconds, bool) or not isinstance(fault.seconds, (int, float))
                                      or fault.seconds < 0):
        raise ValueError("seconds must be a number >= 0")
    if not 0 <= fault.fraction < 1:
        raise ValueError("fraction must be in [0, 1)")
    if kind == "slow" and (isinstance(fault.seconds, bool) or not isinstance(fault.seconds, (int, float))
                           or fault.seconds <= 0):
        raise ValueError("kind 'slow' needs seconds > 0")
    if kind == "redirect" and not (isinstance(fault.location, str)
                                   and fault.location.startswith(("http://", "https://"))):
        raise ValueError("kind 'redirect' needs a location like http://127.0.0.1:9999")
    return fault


class FaultBook:
    """Pending fault rules; handlers on the event loop and generator threads may consult it."""

    def __init__(self) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, faults: list[Fault]) -> None:
        with self._lock:
            self._rules.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._rules]

    def take(self, point: str, kinds: tuple[str, ...], endpoint_id: str | None, path: str) -> Fault | None:
        """Consume one use of the first rule of one of ``kinds`` that matches this call."""
        with self._lock:
            for rule in self._rules:
                if rule.kind in kinds and rule.matches(point, endpoint_id, path):
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                    return dataclasses.replace(rule)
        return None
