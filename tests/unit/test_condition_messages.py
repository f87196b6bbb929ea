"""Condition messages have a fixed size, and say when they were cut (issue 15)."""

from mlcd.api.v1alpha1 import TrainingRunStatus
from mlcd.api.v1alpha1.conditions import CONDITION_MESSAGE_LIMIT, truncate


def test_a_short_message_is_kept_as_it_is():
    assert truncate("fine") == "fine"
    assert truncate("x" * CONDITION_MESSAGE_LIMIT) == "x" * CONDITION_MESSAGE_LIMIT


def test_a_long_message_is_cut_to_the_limit_with_a_marker_that_counts_what_was_cut():
    text = "".join(f"problem {i}; " for i in range(100_000))
    cut = truncate(text)
    assert len(cut) == CONDITION_MESSAGE_LIMIT
    kept = cut[:cut.index("… [truncated ")]
    assert text.startswith(kept)
    assert cut.endswith(f"… [truncated {len(text) - len(kept)} more characters]")


def test_set_condition_truncates():
    status = TrainingRunStatus()
    status.set_condition("Valid", False, "InvalidSpec", "y" * 1_310_000, now="2026-01-01T00:00:00Z")
    assert len(status.to_wire()["conditions"][0]["message"]) == CONDITION_MESSAGE_LIMIT
