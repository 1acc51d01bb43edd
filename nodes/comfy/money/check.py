"""The spend check a paid node passes before anything is uploaded or sent.

Reads the limits (settings + environment), today's spend (``ledger.spent_today``, the one seam),
the prompt's other unfinished paid runs, and (only when a balance floor is set) fal's balance; asks
the pure ``luma.spend.check_prompt_spend`` for a verdict. A refusal becomes the node's error and costs
nothing. Runs of the same prompt that finished (paid, refused or failed) are remembered so they are
not reserved twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from ...luma.prices import Price
from ...luma.spend import RunEstimate, SpendVerdict, check_prompt_spend
from . import fal_docs, ledger, settings
from .. import host
from ..rules.prompt_costs import prompt_runs

log = logging.getLogger(__name__)

_lock = threading.Lock()
_finished: dict[str, set[str]] = {}   # prompt id -> node ids whose run is over
_KEEP_PROMPTS = 32


_titles: dict[str, str] = {}  # node id -> display name, given by extension.py at start-up


def register_node_titles(titles: Mapping[str, str]) -> None:
    """The pack's nodes' display names by node id, which title a prompt's other paid runs in a refusal."""
    global _titles
    with _lock:
        _titles = dict(titles)


def finish(prompt_id: str | None, node_id: str | None) -> None:
    """This node's run is over for this prompt: stop reserving its estimate."""
    if prompt_id is None or node_id is None:
        return
    with _lock:
        _finished.setdefault(prompt_id, set()).add(str(node_id))
        while len(_finished) > _KEEP_PROMPTS:
            del _finished[next(iter(_finished))]


async def check_spend(*, node_name: str, node_id: str | None, price: Price,
                      prompt: Mapping[str, Any] | None) -> SpendVerdict:
    """The verdict for this node's run; warnings are logged here, a refusal is returned for the caller."""
    limits = settings.current_limits()
    prompt_id = host.current_prompt_id()
    with _lock:
        skip = set(_finished.get(prompt_id or "", set()))
    if node_id is not None:
        skip.add(str(node_id))
    others = prompt_runs(prompt, _titles, skip)
    this_run = RunEstimate(node_name, price.usd, price.text)
    balance_usd, note = None, None
    if limits.balance_floor_usd is not None:
        found = await fal_docs.balance()
        balance_usd, note = found.usd, found.message
    verdict = check_prompt_spend(this_run, others, ledger.spent_today(running_prompt=prompt_id), limits, balance_usd, note)
    for warning in verdict.warnings:
        log.warning("luma-fal: %s: %s", node_name, warning)
    return verdict
