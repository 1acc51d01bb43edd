"""What fal billed for each saved request: the units fal sends with the result, and its billing events.

Every result read carries ``x-fal-billable-units`` (any key): units x the unit price from fal's pricing
document is the billed figure recorded with the result (``units_billing``). Where fal sends no units the
entry says so and the estimate stands.

fal records a billing event once a request has succeeded; only admin-scope keys may read them. So after
a result is saved, a daemon thread asks for the request's event a few times with backoff, then keeps the
figure in the journal (``billed_usd``, and ``fal_records.billing`` with the units, the unit price and the
drift from the pack's estimate). A key without that scope is asked once per process, then never again.
Nothing here ever holds a run up or raises into it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from typing import Any

from ...fal.config import FalConfig
from ...fal.records import RecordsClient, RecordsRefused, RecordsUnavailable
from ...journal.reconcile import billing_drift
from ...journal.store import JournalEntry
from ...luma.prices import unit_price_of
from ..host.journaling import journal
from ..host.keystore import key_file_path

log = logging.getLogger(__name__)

READ_ENV = "LUMA_FAL_READ_BILLING"  # "0": never ask fal's billing events (the ledger shows estimates)
TRIES = 4
FIRST_GAP_S = 1.0
_refused = threading.Event()  # this key may not read billing events: stop asking


def units_billing(endpoint_id: str, price_usd: float | None, units: float | None) -> dict[str, Any]:
    """The journal fields for fal's billed units: ``billed_usd`` and ``fal_records.billing`` (a partial
    ``fal_records`` document the recorder merges), or only the note that fal sent none."""
    if units is None:
        return {"billing": {"source": "none", "note": "fal sent no billable units with the result; the estimate "
                                                      "stands"}}
    unit = unit_price_of(endpoint_id)
    if unit is None:
        return {"billing": {"source": "units", "units": units, "note": "no unit price known for this endpoint; "
                                                                       "the estimate stands"}}
    usd = round(units * unit.usd, 6)
    return {"billed_usd": usd, "billing": {"source": "units", "units": units, "unit_price": unit.usd,
                                           "unit": unit.unit, "unit_price_source": unit.source, "usd": usd,
                                           "drift": billing_drift(price_usd, usd)}}


def bill_later(entry: JournalEntry) -> None:
    if _refused.is_set() or not entry.request_id or os.environ.get(READ_ENV, "").strip() == "0":
        return
    threading.Thread(target=lambda: asyncio.run(_bill(entry)), name="luma-fal-billing", daemon=True).start()


async def _bill(entry: JournalEntry) -> None:
    try:
        client = RecordsClient(FalConfig.from_env(key_file=key_file_path()), attempts=2)
        start = (entry.submitted_at or entry.created_at) - 600
        gap = FIRST_GAP_S
        for _ in range(TRIES):
            try:
                events = await client.billing_events([str(entry.request_id)], start=start, end=time.time() + 600)
            except RecordsRefused:
                _refused.set()
                log.info("comfyui-luma-fal: this fal key may not read billing events; the ledger shows estimates")
                return
            except RecordsUnavailable as exc:
                log.debug("billing events unavailable: %s", exc)
                events = []
            mine = [e for e in events if e.request_id == entry.request_id and e.usd is not None]
            if mine:
                usd = round(sum(e.usd or 0.0 for e in mine), 9)
                store = journal()
                current = store.get(entry.id) or entry
                drift = billing_drift(current.price_usd, usd)
                earlier = (current.fal_records or {}).get("billing")
                records = {**(current.fal_records or {}), "billing": {
                    "source": "billing_events", "usd": usd, "units": sum(e.output_units or 0.0 for e in mine),
                    "unit_price": mine[0].unit_price, "drift": drift, "events": len(mine),
                    **({"from_units": earlier} if isinstance(earlier, dict) else {})}}
                note = f"fal billed ${usd:.4f}" + (f" ({drift:+.0%} from the estimate)" if drift is not None else "")
                store.update(entry.id, billed_usd=usd, fal_records=records, note=note)
                return
            await asyncio.sleep(gap)
            gap *= 2
    except Exception:  # the ledger falls back to estimates; a run is never affected
        log.debug("could not read fal's billing events", exc_info=True)
