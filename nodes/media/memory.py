"""How much RAM a new tensor may take, asked of the OS right before allocating it."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

MIB = 1 << 20
GIB = 1 << 30
# Head-room left for ComfyUI, the models it holds and the rest of the machine: never plan to fill RAM.
SAFETY_MARGIN_MIN = 512 * MIB
SAFETY_MARGIN_FRACTION = 0.05


def available_bytes() -> int | None:
    """RAM the OS can hand out now without swapping, or None when it cannot be read."""
    try:
        import psutil  # ComfyUI ships it; optional here
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.virtual_memory().available)
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def budget_bytes(limit_bytes: int | None) -> tuple[int | None, str]:
    """The bytes a decode may use and a short phrase saying where that number comes from."""
    if limit_bytes is not None:
        return max(0, int(limit_bytes)), "memory_limit_bytes"
    available = available_bytes()
    if available is None:
        logger.warning("cannot read available memory; the memory guard is off for this decode")
        return None, "unknown"
    margin = max(SAFETY_MARGIN_MIN, int(available * SAFETY_MARGIN_FRACTION))
    return max(0, available - margin), f"free RAM less a {format_bytes(margin)} safety margin"


def format_bytes(count: int) -> str:
    if count >= GIB:
        return f"{count / GIB:.2f} GiB"
    return f"{count / MIB:.0f} MiB"
