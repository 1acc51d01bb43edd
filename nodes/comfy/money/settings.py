"""The spend-limit settings: stored server-side in the user folder, overridden by environment variables.

``user/comfyui-luma-fal/money.json`` holds what the settings dialog saved; ``LUMA_FAL_MAX_RUN_USD``,
``LUMA_FAL_DAILY_BUDGET_USD``, ``LUMA_FAL_UNKNOWN_PRICE`` (refuse|warn) and ``LUMA_FAL_BALANCE_FLOOR_USD``
win over it (an admin's limit cannot be lifted from a browser). Empty = no limit.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...luma.spend import LIMIT_NAMES, SpendLimits, parse_policy, parse_usd
from ..host import user_directory

log = logging.getLogger(__name__)

SETTINGS_FILE_NAME = "money.json"
USD_LIMITS = ("max_run_usd", "daily_budget_usd", "balance_floor_usd")
ALL_LIMITS = (*USD_LIMITS, "unknown_price")


def settings_path() -> Path:
    return user_directory() / "comfyui-luma-fal" / SETTINGS_FILE_NAME


def _parse(name: str, raw: Any, label: str | None = None) -> Any:
    label = label or name
    return parse_policy(label, raw) if name == "unknown_price" else parse_usd(label, raw)


def stored_settings() -> dict[str, Any]:
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found: dict[str, Any] = {}
    for name in ALL_LIMITS:
        if name in (data if isinstance(data, dict) else {}):
            try:
                found[name] = _parse(name, data[name])
            except ValueError as exc:
                log.warning("luma-fal: ignoring %s in %s: %s", name, settings_path(), exc)
    return found


def save_settings(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and store the given limits (others kept); ValueError names the bad one."""
    unknown = sorted(set(changes) - set(ALL_LIMITS))
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(unknown)}; known: {', '.join(ALL_LIMITS)}")
    current = stored_settings()
    for name, raw in changes.items():
        current[name] = _parse(name, raw)
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(current, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return current


def current_limits(env: Mapping[str, str] | None = None) -> SpendLimits:
    """The limits in force: environment first, then the stored settings, else none (unknown: warn).

    A malformed environment value is an error (raised, naming the variable), not silently ignored."""
    return limits_from(os.environ if env is None else env, stored_settings())


def limits_from(env: Mapping[str, str], stored: Mapping[str, Any]) -> SpendLimits:
    """The precedence rule on its own: environment, then stored settings, then no limit."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name in ALL_LIMITS:
        env_name = LIMIT_NAMES[name][1]
        raw = env.get(env_name, "").strip()
        if raw:
            values[name] = _parse(name, raw, env_name)
            origins[name] = "env"
        elif name in stored and stored[name] is not None:
            values[name] = stored[name]
            origins[name] = "setting"
        else:
            origins[name] = "default"
    return SpendLimits(**values, origins=origins)
