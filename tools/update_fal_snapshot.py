"""Refresh the snapshot of fal's documents bundled with the pack (run before a release).

    FAL_KEY=... python -m tools.update_fal_snapshot            # fal's live documents -> nodes/luma/...
    LUMA_FAL_BASE_URL=http://127.0.0.1:8765 FAL_KEY=x python -m tools.update_fal_snapshot --out DIR

Writes ``bundled/fal_openapi.json`` (each endpoint's OpenAPI document) and the ``unit_price`` of each
endpoint in ``prices.json`` (converted to the table's base unit; a unit the table cannot convert is left
alone and reported). The multipliers stay as they are: fal publishes them only as prose, so check them
against fal's model pages by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from nodes.fal.config import FalConfig
from nodes.fal.platform import fetch_openapi, fetch_pricing
from nodes.luma import constants as C
from nodes.luma.fal_schema import BUNDLED_SCHEMAS_PATH, parse_openapi
from nodes.luma.prices import PRICES_PATH, parse_pricing


async def _fetch(config: FalConfig) -> tuple[dict[str, Any], Any]:
    docs = await asyncio.gather(*(fetch_openapi(config, e, timeout=30.0) for e in C.ALL_ENDPOINTS))
    for endpoint_id, doc in zip(C.ALL_ENDPOINTS, docs, strict=True):
        parse_openapi(endpoint_id, doc)  # refuse to bundle a document the pack cannot read
    return dict(zip(C.ALL_ENDPOINTS, docs, strict=True)), await fetch_pricing(config, C.ALL_ENDPOINTS, timeout=30.0)


def update(out: Path, schemas: dict[str, Any], pricing: Any, as_of: str) -> list[str]:
    """Write both files under ``out``; returns what could not be updated."""
    problems: list[str] = []
    bundle = json.loads(BUNDLED_SCHEMAS_PATH.read_text(encoding="utf-8"))
    bundle.update(as_of=as_of, endpoints=schemas)
    table = json.loads(PRICES_PATH.read_text(encoding="utf-8"))
    quotes = parse_pricing(pricing)
    for endpoint_id, entry in table["endpoints"].items():
        quote = quotes.get(endpoint_id)
        per_base = entry["units_per_base"].get(quote["unit"]) if quote else None
        if quote is None or per_base is None or quote["currency"] != table["currency"]:
            problems.append(f"{endpoint_id}: {quote or 'no price'} kept as {entry['unit_price']} per {entry['unit']}")
            continue
        entry["unit_price"] = round(quote["unit_price"] * per_base, 6)
    table["as_of"] = as_of
    (out / "bundled").mkdir(parents=True, exist_ok=True)
    (out / "bundled" / BUNDLED_SCHEMAS_PATH.name).write_text(json.dumps(bundle, indent=1) + "\n", encoding="utf-8")
    (out / PRICES_PATH.name).write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PRICES_PATH.parent, help="folder for prices.json and bundled/")
    parser.add_argument("--as-of", default=time.strftime("%Y-%m"), help="the snapshot's date label (YYYY-MM)")
    args = parser.parse_args(argv)
    schemas, pricing = asyncio.run(_fetch(FalConfig.from_env()))
    for problem in update(args.out, schemas, pricing, args.as_of):
        print("not updated:", problem, file=sys.stderr)
    print(f"wrote {args.out / PRICES_PATH.name} and {args.out / 'bundled' / BUNDLED_SCHEMAS_PATH.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
