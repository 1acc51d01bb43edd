"""Run-time settings of the sandbox, changed through ``POST /_sandbox/config``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SandboxConfig:
    # Lifecycle timing: defaults are short so the demo feels alive and tests stay quick.
    queue_seconds: float = 0.6
    run_seconds: float = 2.0
    # Queue position shown right after submit; it counts down to 0 over queue_seconds.
    queue_position_start: int = 2
    # Number of progress log lines spread over run_seconds (or explicit messages).
    log_lines: int | list[str] = 4
    # True: a running request, its log lines all out, finishes only once POST /_sandbox/release names it
    # (a test sees the running phase however slowly a loaded machine draws, as queue_seconds does for the queue).
    hold_running: bool = False
    # None accepts any non-empty key; a string makes every other key a 401.
    required_key: str | None = None
    # fal sends an SSE comment every 15 s.
    keepalive_seconds: float = 15.0
    # Where returned URLs point (an origin, scheme://host:port); None = this server, as fal does. Tests set
    # them to another origin to check a client never sends its key where a server's answer points it:
    # status/response/cancel URLs, result file URLs, signed upload URLs (REST initiate).
    queue_urls_at: str | None = None
    file_urls_at: str | None = None
    upload_urls_at: str | None = None
    # The CDN's pace for file downloads in bytes per second (None = as fast as loopback goes): a home or
    # office link, e.g. 50 Mbit/s = 6_250_000. Each download (each connection) gets this rate.
    download_bytes_per_second: float | None = None
    # The storage uplink's pace for upload bodies in bytes per second (None = as fast as loopback goes): each
    # upload connection gets this rate, or, with upload_link_shared, all uploads under way share it (one
    # user's uplink: parallel uploads are no faster than one). See uplink.py.
    upload_bytes_per_second: float | None = None
    upload_link_shared: bool = False
    # Where MP4 results keep their index: "moov_last" (what encoders write in one pass, the default) or
    # "moov_first" (a "faststart" file). Same frames either way; only the order of the bytes differs.
    mp4_layout: str = "moov_last"
    # Bits per second of generated text/image-to-video MP4s (None = small quality-based files): e.g. 24e6 makes
    # a 1080p 10 s result about 30 MB, as big as a real one, for download timings.
    video_bitrate: float | None = None
    # fal sends x-fal-billable-units with a result; false leaves it out (as an answer without units).
    billable_units: bool = True
    # Extra fields are kept for forward compatibility of the control API.
    extra: dict[str, Any] = field(default_factory=dict)

    def updated(self, changes: dict[str, Any]) -> SandboxConfig:
        """A copy with ``changes`` applied; unknown names or wrong types raise ValueError."""
        known = {f.name: f for f in dataclasses.fields(self) if f.name != "extra"}
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown config field {name!r}; known: {sorted(known)}")
            values[name] = _checked(name, value)
        return dataclasses.replace(self, **values)

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("extra")
        # The key itself stays private: only whether one is required is visible.
        data["required_key"] = None if self.required_key is None else "<set>"
        return data


# Options that are a rate or unset: the smallest value taken, and what the refusal asks for.
_OPTIONAL_RATES: dict[str, tuple[float, str]] = {
    "download_bytes_per_second": (0, "a number > 0"),
    "upload_bytes_per_second": (0, "a number > 0"),
    "video_bitrate": (100_000, "a number of bits per second >= 100000"),
}


def _checked(name: str, value: Any) -> Any:
    if name in ("queue_seconds", "run_seconds", "keepalive_seconds"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name} must be a number >= 0")
        if name == "keepalive_seconds" and value <= 0:
            raise ValueError("keepalive_seconds must be > 0")
        return float(value)
    if name == "queue_position_start":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("queue_position_start must be an integer >= 0")
        return value
    if name == "log_lines":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ValueError("log_lines must be an integer >= 0 or a list of strings")
    if name in ("queue_urls_at", "file_urls_at", "upload_urls_at"):
        if value is None or (isinstance(value, str) and value.startswith(("http://", "https://"))):
            return value.rstrip("/") if value else None
        raise ValueError(f"{name} must be null or a URL like http://127.0.0.1:9999")
    if name in _OPTIONAL_RATES:  # null or 0: unset
        smallest, wanted = _OPTIONAL_RATES[name]
        if value is None or value == 0:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < smallest:
            raise ValueError(f"{name} must be null or {wanted}")
        return float(value)
    if name in ("upload_link_shared", "hold_running"):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if name == "mp4_layout":
        if value not in ("moov_last", "moov_first"):
            raise ValueError("mp4_layout must be 'moov_last' or 'moov_first'")
        return value
    if name == "billable_units":
        if not isinstance(value, bool):
            raise ValueError("billable_units must be true or false")
        return value
    if name == "required_key":
        if value is None or (isinstance(value, str) and value):
            return value
        raise ValueError("required_key must be null or a non-empty string")
    return value
