"""Which limit is in force: environment variables win over the stored settings; bad values are named."""

from __future__ import annotations

import pytest

from nodes.comfy.money.settings import limits_from


def test_environment_wins_over_stored_settings() -> None:
    stored = {"max_run_usd": 5.0, "daily_budget_usd": 20.0, "unknown_price": "warn"}
    limits = limits_from({"LUMA_FAL_MAX_RUN_USD": "1.5", "LUMA_FAL_UNKNOWN_PRICE": "refuse"}, stored)
    assert (limits.max_run_usd, limits.daily_budget_usd, limits.unknown_price) == (1.5, 20.0, "refuse")
    assert limits.balance_floor_usd is None
    assert dict(limits.origins) == {"max_run_usd": "env", "daily_budget_usd": "setting", "unknown_price": "env",
                                    "balance_floor_usd": "default"}


def test_no_settings_means_no_limits_and_warn() -> None:
    limits = limits_from({}, {})
    assert (limits.max_run_usd, limits.daily_budget_usd, limits.balance_floor_usd, limits.unknown_price) == \
        (None, None, None, "warn")


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="LUMA_FAL_DAILY_BUDGET_USD"):
        limits_from({"LUMA_FAL_DAILY_BUDGET_USD": "lots"}, {})
