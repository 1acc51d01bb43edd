"""The JSON receipt saved next to each result file (``<file>.json``, e.g. ``clip.mp4.json``).

It says what the file is and what it cost: the fal endpoint and request id, the inputs as sent
(uploaded URLs, never tensors), fal's raw result, timings, the estimated price and where that
estimate came from, and the pack version. It is built from the journal entry, which never holds
the key, so neither does the receipt.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .store import JournalEntry

RECEIPT_FORMAT = 1


def receipt_path(result_file: str | os.PathLike[str]) -> Path:
    path = Path(result_file)
    return path.with_name(path.name + ".json")


def build_receipt(entry: JournalEntry, files: Mapping[str, list[str]], *, sent_payload: Mapping[str, Any],
                  pack_version: str) -> dict[str, Any]:
    return {
        "format": RECEIPT_FORMAT,
        "pack": {"name": "comfyui-luma-fal", "version": pack_version},
        "endpoint_id": entry.endpoint_id,
        "request_id": entry.request_id,
        "node": {"id": entry.node_id, "name": entry.node_name, "prompt_id": entry.prompt_id},
        "inputs": dict(sent_payload),
        "uploaded_files": {placeholder: {k: v for k, v in info.items() if k in ("label", "url")}
                           for placeholder, info in entry.inputs.items()},
        "seed": entry.seed,
        "estimated_price": {"usd": entry.price_usd, "source": entry.price_source},
        # What fal says it bills: its billable units x the unit price (or its billing events), when known.
        "billed": {"usd": entry.billed_usd, **((entry.fal_records or {}).get("billing") or {})},
        "fal_result": entry.result,
        "timings": entry.timings,
        "created_at": entry.created_at,
        "submitted_at": entry.submitted_at,
        "finished_at": entry.finished_at,
        "files": {name: [Path(p).name for p in paths] for name, paths in files.items()},
        "journal_entry_id": entry.id,
    }


def write_receipt(result_file: str | os.PathLike[str], receipt: Mapping[str, Any]) -> Path:
    """Write atomically (temporary file, then rename), so a crash never leaves half a receipt."""
    target = receipt_path(result_file)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(receipt, out, indent=2, sort_keys=True, default=str)
            out.write("\n")
        os.replace(name, target)
    finally:
        Path(name).unlink(missing_ok=True)
    return target
