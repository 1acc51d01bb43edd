"""Spend limits as pure functions: is this prompt's next paid run allowed, given what was spent today?

No I/O here. The glue supplies ``spent_today`` (one provider seam, ``nodes/comfy/money/ledger.py``), the
estimates of every paid run of the prompt that has not finished yet (so twenty queued 1080p takes are
judged together, not one at a time), the limits (settings + environment) and, when a balance floor is
set, the account balance. Every refusal says the estimate, the limit and how to change it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .prices import money

UnknownPricePolicy = Literal["refuse", "warn"]
UNKNOWN_PRICE_POLICIES: tuple[UnknownPricePolicy, ...] = ("refuse", "warn")

# Where each limit is changed; the glue passes the environment variable names it honours.
LIMIT_NAMES = {
    "max_run_usd": ("per-run cap", "LUMA_FAL_MAX_RUN_USD"),
    "daily_budget_usd": ("daily budget", "LUMA_FAL_DAILY_BUDGET_USD"),
    "unknown_price": ("unknown-price rule", "LUMA_FAL_UNKNOWN_PRICE"),
    "balance_floor_usd": ("balance floor", "LUMA_FAL_BALANCE_FLOOR_USD"),
}


@dataclass(frozen=True)
class SpendLimits:
    max_run_usd: float | None = None
    daily_budget_usd: float | None = None
    unknown_price: UnknownPricePolicy = "warn"
    balance_floor_usd: float | None = None
    # limit name -> "env" | "setting" | "default": decides what the refusal tells the user to change.
    origins: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunEstimate:
    """One paid run of the prompt: the node's title and id, and its price (usd None = unknown)."""

    node: str
    usd: float | None
    text: str    # the price as the user sees it, with its source ("$2.00 · live")


@dataclass(frozen=True)
class SpendVerdict:
    refusal: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def how_to_change(limit: str, limits: SpendLimits) -> str:
    title, env = LIMIT_NAMES[limit]
    if limits.origins.get(limit) == "env":
        return f"The {title} comes from the environment variable {env}: change or unset it and restart ComfyUI."
    return f"Change the {title} in Settings → Luma (fal) → Spend limits (or set {env})."


def total(runs: Sequence[RunEstimate]) -> float:
    return round(sum(r.usd for r in runs if r.usd is not None), 6)


def check_prompt_spend(this_run: RunEstimate, others: Sequence[RunEstimate], spent_today: float,
                       limits: SpendLimits, balance_usd: float | None = None,
                       balance_note: str | None = None) -> SpendVerdict:
    """Verdict on starting ``this_run`` when ``others`` (the prompt's other paid runs that have not
    finished) are still to come and ``spent_today`` is already spent.

    * unknown price (this run or any other): refused when the policy is ``refuse``, else a warning;
    * per-run cap: every run of the prompt is compared, so the prompt is refused before its first
      paid run when any of its runs is over the cap;
    * daily budget: spent today + every unfinished run of the prompt must stay within it;
    * balance floor: balance - every unfinished run must stay at or above it (skipped, with a warning,
      when the balance cannot be read).
    """
    runs = [this_run, *others]
    warnings: list[str] = []
    unknown = [r for r in runs if r.usd is None]
    if unknown:
        names = "; ".join(f"{r.node}: {r.text}" for r in unknown)
        if limits.unknown_price == "refuse":
            return SpendVerdict(f"the price of this run is unknown ({names}), and unknown prices are set to be "
                                "refused. " + how_to_change("unknown_price", limits)
                                + " Set it to warn to run anyway.")
        warnings.append(f"price unknown ({names}); not counted against your limits")
    cap = limits.max_run_usd
    if cap is not None:
        over = [r for r in runs if r.usd is not None and r.usd > cap + 1e-9]
        if over:
            worst = max(over, key=lambda r: r.usd or 0)
            which = "this run" if worst is this_run else f"{worst.node} in the same prompt"
            return SpendVerdict(f"the estimate for {which} is {worst.text}, above your per-run cap of {money(cap)}. "
                                + how_to_change("max_run_usd", limits))
    planned = total(runs)
    budget = limits.daily_budget_usd
    if budget is not None and spent_today + planned > budget + 1e-9:
        count = len([r for r in runs if r.usd is not None])
        what = f"this run's estimate {this_run.text}" if count == 1 else \
            f"this prompt's {count} paid runs together {money(planned)}"
        return SpendVerdict(f"{what} plus today's spend {money(spent_today)} is {money(spent_today + planned)}, "
                            f"over your daily budget of {money(budget)} ({money(max(0.0, budget - spent_today))} "
                            "left today). " + how_to_change("daily_budget_usd", limits))
    floor = limits.balance_floor_usd
    if floor is not None:
        if balance_usd is None:
            warnings.append(f"balance floor {money(floor)} not checked: {balance_note or 'the balance is unknown'}")
        elif balance_usd - planned < floor - 1e-9:
            return SpendVerdict(f"your fal balance is {money(balance_usd)}; after {money(planned)} for this prompt "
                                f"it would be {money(balance_usd - planned)}, below your balance floor of "
                                f"{money(floor)}. " + how_to_change("balance_floor_usd", limits))
    return SpendVerdict(None, tuple(warnings))


def parse_usd(name: str, raw: object) -> float | None:
    """A limit in dollars: None/"" = no limit; otherwise a finite number >= 0 (ValueError naming ``name``)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raise ValueError(f"{name} must be an amount in USD such as 5 or 2.50, got {raw!r}")
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an amount in USD such as 5 or 2.50, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        raise ValueError(f"{name} must be an amount in USD >= 0, got {raw!r}")
    return value


def parse_policy(name: str, raw: object) -> UnknownPricePolicy:
    value = str(raw or "warn").strip().lower()
    if value not in UNKNOWN_PRICE_POLICIES:
        raise ValueError(f"{name} must be refuse or warn, got {raw!r}")
    return value  # type: ignore[return-value]
