"""How much RAM a new tensor may take, asked of the OS right before allocating it."""

from __future__ import annotations

import logging
import re
from types import ModuleType

psutil: ModuleType | None
try:
    import psutil  # ComfyUI ships it; without it /proc/meminfo is read
except ImportError:
    psutil = None

logger = logging.getLogger(__name__)

MIB = 1 << 20
GIB = 1 << 30
# Head-room left for ComfyUI, the models it holds and the rest of the machine: never plan to fill RAM.
SAFETY_MARGIN_MIN = 512 * MIB
SAFETY_MARGIN_FRACTION = 0.05


def available_bytes() -> int | None:
    """RAM the OS can hand out now without swapping, or None when it cannot be read."""
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


def budget_bytes(limit_bytes: int | None, cap_bytes: int | None = None, cap_name: str = "the memory cap"
                 ) -> tuple[int | None, str]:
    """The bytes a decode may use and a short phrase saying where that number comes from.

    ``limit_bytes`` replaces the free-RAM reading (a caller that knows better); ``cap_bytes`` is a ceiling a
    user set, so the budget is the smaller of it and free RAM."""
    if limit_bytes is not None:
        return max(0, int(limit_bytes)), "memory_limit_bytes"
    available = available_bytes()
    if available is None:
        if cap_bytes is not None:
            return max(0, int(cap_bytes)), cap_name
        logger.warning("cannot read available memory; the memory guard is off for this decode")
        return None, "unknown"
    margin = max(SAFETY_MARGIN_MIN, int(available * SAFETY_MARGIN_FRACTION))
    free = max(0, available - margin)
    if cap_bytes is not None and cap_bytes < free:
        return max(0, int(cap_bytes)), cap_name
    return free, f"free RAM less a {format_bytes(margin)} safety margin"


_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1000, "kib": 1 << 10, "m": MIB, "mb": 1000**2, "mib": MIB,
               "g": GIB, "gb": 1000**3, "gib": GIB, "t": 1 << 40, "tb": 1000**4, "tib": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes from "800MiB", "1.5 GiB", "2G" (binary), "2GB" (decimal) or a plain number of bytes."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (write e.g. 800MiB, 1.5GiB or a number of bytes)")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def format_bytes(count: int) -> str:
    if count >= GIB:
        return f"{count / GIB:.2f} GiB"
    return f"{count / MIB:.0f} MiB"
