"""The fan-out's plan, its cost count and its report, on plain values (the e2e proof is tests/e2e/test_takes.py)."""

from __future__ import annotations

from nodes.comfy.rules.takes import MAX_TAKES, TakeFailure, check_plan, plan_takes, report_text, takes_count


def test_defaults_are_one_request_of_the_nodes_prompt_with_take_index_zero() -> None:
    (only,) = plan_takes("a cat\non two lines", "", 1)
    assert (only.prompt, only.prompt_number, only.identity_take, only.label) == ("a cat\non two lines", 0, 0, "take 1")
    assert [t.identity_take for t in plan_takes("p", None, None)] == [0]


def test_variants_times_takes_in_order_with_distinct_identities() -> None:
    plan = plan_takes("ignored", "red\n\n  blue \n", 2)
    assert [(t.number, t.prompt, t.identity_take) for t in plan] == [
        (1, "red", 0), (2, "red", 1), (3, "blue", 0), (4, "blue", 1)]
    # A list from upstream: each item's lines; a repeated prompt continues its take indexes.
    repeated = plan_takes("x", ["a", "b\na"], 1)
    assert [(t.prompt, t.identity_take) for t in repeated] == [("a", 0), ("b", 0), ("a", 1)]


def test_refusals_name_the_input() -> None:
    assert check_plan("N", "", 1) is None
    assert check_plan("N", "", MAX_TAKES + 1).startswith("takes:")
    assert check_plan("N", "", 0).startswith("takes:")
    assert check_plan("N", "\n".join(str(i) for i in range(65)), 1).startswith("prompt_variants:")
    assert check_plan("N", "\n".join(str(i) for i in range(8)), 16) is None  # 128 requests
    too_many = check_plan("N", "\n".join(str(i) for i in range(9)), 15)
    assert too_many is not None and "9 prompts x 15 takes = 135" in too_many and "at most 128" in too_many


def test_cost_count_is_takes_times_variants_and_a_linked_list_counts_once() -> None:
    assert takes_count({}) == 1
    assert takes_count({"takes": 4}) == 4
    assert takes_count({"takes": 2, "prompt_variants": "a\nb\nc"}) == 6
    assert takes_count({"takes": 3, "prompt_variants": ["7", 0]}) == 3


def test_report_lists_every_take_in_order_with_why_it_failed() -> None:
    plan = plan_takes("p", "first\nsecond", 1)
    text = report_text([(plan[1], "req-2")], [TakeFailure(plan[0], "content refused", "req-1")])
    assert text.splitlines() == [
        "1 of 2 takes done, 1 failed",
        "take 1 (prompt 1: 'first'): FAILED (request req-1): content refused",
        "take 2 (prompt 2: 'second'): done, request req-2",
    ]


def test_other_nodes_of_the_prompt_are_reserved_for_every_request_of_their_fan_out() -> None:
    from nodes.comfy.rules.prompt_costs import prompt_runs

    inputs = {"resolution": "540p", "duration": "5s", "hdr": False, "exr_export": False}
    prompt = {"1": {"class_type": "LumaFalRay32TextToVideo", "inputs": inputs},
              "2": {"class_type": "LumaFalRay32TextToVideo", "inputs": {**inputs, "takes": 3, "prompt_variants": "a\nb"}}}
    one, fanned = prompt_runs(prompt, {}, set())
    assert fanned.usd == round(one.usd * 6, 6) and fanned.text.startswith("6 requests × ")
