"""Spend limits as pure functions: cap, daily budget (the whole prompt counts), unknown price, balance floor."""

from __future__ import annotations

import pytest

from nodes.luma.spend import RunEstimate, SpendLimits, check_prompt_spend, parse_policy, parse_usd


def run(usd: float | None, node: str = "T2V #1") -> RunEstimate:
    return RunEstimate(node, usd, f"${usd:.2f} · live" if usd is not None else "price not published · bundled")


def test_no_limits_allow_anything() -> None:
    assert check_prompt_spend(run(99.0), [run(50.0)], 1000.0, SpendLimits()).allowed


def test_cap_refuses_with_estimate_limit_and_how_to_change() -> None:
    verdict = check_prompt_spend(run(2.0), [], 0.0, SpendLimits(max_run_usd=1.0, origins={"max_run_usd": "setting"}))
    assert not verdict.allowed
    assert "$2.00 · live" in verdict.refusal and "per-run cap of $1.00" in verdict.refusal
    assert "Settings → Luma (fal) → Spend limits" in verdict.refusal and "LUMA_FAL_MAX_RUN_USD" in verdict.refusal


def test_cap_from_environment_says_so() -> None:
    verdict = check_prompt_spend(run(2.0), [], 0.0, SpendLimits(max_run_usd=1.0, origins={"max_run_usd": "env"}))
    assert "environment variable LUMA_FAL_MAX_RUN_USD" in verdict.refusal


def test_cap_checks_every_run_of_the_prompt_before_the_first() -> None:
    verdict = check_prompt_spend(run(0.5), [run(0.5, "A #2"), run(4.0, "B #3")], 0.0, SpendLimits(max_run_usd=2.0))
    assert "B #3 in the same prompt" in verdict.refusal and "$4.00" in verdict.refusal


def test_cap_equal_to_estimate_is_allowed() -> None:
    assert check_prompt_spend(run(2.0), [], 0.0, SpendLimits(max_run_usd=2.0)).allowed


def test_twenty_queued_takes_cannot_slip_past_the_budget() -> None:
    others = [run(2.0, f"T2V #{i}") for i in range(2, 21)]
    verdict = check_prompt_spend(run(2.0), others, 0.0, SpendLimits(daily_budget_usd=10.0))
    assert "20 paid runs together $40.00" in verdict.refusal and "daily budget of $10.00" in verdict.refusal
    assert "$10.00 left today" in verdict.refusal


@pytest.mark.parametrize(("spent", "allowed"), [(7.99, True), (8.0, True), (8.01, False)])
def test_budget_counts_todays_spend(spent: float, allowed: bool) -> None:
    verdict = check_prompt_spend(run(2.0), [], spent, SpendLimits(daily_budget_usd=10.0))
    assert verdict.allowed is allowed
    if not allowed:
        assert "today's spend $8.01" in verdict.refusal and "this run's estimate $2.00 · live" in verdict.refusal


def test_unknown_price_refused_or_warned() -> None:
    refused = check_prompt_spend(run(None), [], 0.0, SpendLimits(unknown_price="refuse"))
    assert "price of this run is unknown" in refused.refusal and "LUMA_FAL_UNKNOWN_PRICE" in refused.refusal
    warned = check_prompt_spend(run(None), [], 0.0, SpendLimits(unknown_price="warn", daily_budget_usd=1.0))
    assert warned.allowed and "price unknown" in warned.warnings[0]
    other = check_prompt_spend(run(1.0), [run(None, "X #9")], 0.0, SpendLimits(unknown_price="refuse"))
    assert "X #9" in other.refusal


def test_balance_floor() -> None:
    limits = SpendLimits(balance_floor_usd=5.0)
    refused = check_prompt_spend(run(2.0), [run(2.0, "B #2")], 0.0, limits, balance_usd=8.0)
    assert "balance is $8.00" in refused.refusal and "would be $4.00" in refused.refusal
    assert "balance floor of $5.00" in refused.refusal
    assert check_prompt_spend(run(2.0), [], 0.0, limits, balance_usd=7.0).allowed
    unknown = check_prompt_spend(run(2.0), [], 0.0, limits, None, "this fal key may not read the account balance")
    assert unknown.allowed and "not checked" in unknown.warnings[0]


@pytest.mark.parametrize(("raw", "value"), [(None, None), ("", None), ("  ", None), ("5", 5.0), (2.5, 2.5), (0, 0.0)])
def test_parse_usd(raw: object, value: float | None) -> None:
    assert parse_usd("LUMA_FAL_MAX_RUN_USD", raw) == value


@pytest.mark.parametrize("raw", ["five", -1, "nan", "inf", True])
def test_parse_usd_refuses_naming_the_setting(raw: object) -> None:
    with pytest.raises(ValueError, match="LUMA_FAL_MAX_RUN_USD"):
        parse_usd("LUMA_FAL_MAX_RUN_USD", raw)


def test_parse_policy() -> None:
    assert parse_policy("x", "REFUSE") == "refuse" and parse_policy("x", None) == "warn"
    with pytest.raises(ValueError, match="refuse or warn"):
        parse_policy("LUMA_FAL_UNKNOWN_PRICE", "maybe")
