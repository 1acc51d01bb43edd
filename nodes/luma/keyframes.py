"""Keyframe positions on Ray 3.2's 24 fps output timeline, from what a user types."""

from __future__ import annotations

from .constants import RAY_DURATIONS, RAY_FPS, RAY_LAST_FRAME_INDEX


class KeyframePositionsInvalid(ValueError):
    """The positions text cannot be read; the message names the input and what is wrong."""


def parse_positions(text: str, count: int, duration: str) -> list[int]:
    """Frame indexes for ``count`` keyframes.

    ``text`` holds one entry per keyframe, separated by commas or spaces: a frame number ("60") or
    seconds with an ``s`` ("2.5s"). Empty text spreads the keyframes evenly from the first frame to
    the last. Range, order and uniqueness are the catalogue's rules, checked with the rest of the
    request, so every problem is reported together.
    """
    if duration not in RAY_DURATIONS:
        raise KeyframePositionsInvalid(f"duration: must be one of {', '.join(RAY_DURATIONS)} (got {duration})")
    last = RAY_LAST_FRAME_INDEX[duration]
    entries = [e for e in text.replace(",", " ").split() if e]
    if not entries:
        if count == 1:
            return [0]
        return [round(i * last / (count - 1)) for i in range(count)]
    if len(entries) != count:
        raise KeyframePositionsInvalid(
            f"keyframe_positions: {len(entries)} position(s) given for {count} keyframe image(s); "
            "give one position per image, or leave it empty to spread them evenly"
        )
    return [_to_frame(entry) for entry in entries]


def _to_frame(entry: str) -> int:
    try:
        if entry.lower().endswith("s"):
            return round(float(entry[:-1]) * RAY_FPS)
        value = float(entry)
    except ValueError:
        raise KeyframePositionsInvalid(
            f"keyframe_positions: {entry!r} is neither a frame number (e.g. 60) nor seconds (e.g. 2.5s)"
        ) from None
    if not value.is_integer():
        raise KeyframePositionsInvalid(
            f"keyframe_positions: frame numbers are whole numbers (got {entry}); write seconds with an s, e.g. {entry}s"
        )
    return int(value)
