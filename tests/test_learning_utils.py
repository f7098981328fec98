"""The learning tests' second-seed rule: it passes on the first seed that reaches the bar and fails when none does."""

import pytest
from learning_utils import passes_with_some_seed


def test_stops_at_the_first_seed_that_passes():
    tried = []
    passes_with_some_seed(lambda seed: (tried.append(seed) or seed == 0, "ok"))
    assert tried == [0]
    tried.clear()
    passes_with_some_seed(lambda seed: (tried.append(seed) or seed == 1, f"report {seed}"))
    assert tried == [0, 1]


def test_fails_with_every_report_when_no_seed_passes():
    with pytest.raises(pytest.fail.Exception) as failed:
        passes_with_some_seed(lambda seed: (False, f"return {seed}0"))
    assert "seed 0: return 00" in str(failed.value) and "seed 1: return 10" in str(failed.value)
