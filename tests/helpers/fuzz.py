"""How many examples a property-based test tries: all of them in a session that runs slow tests, a fifth in the
fast tier (`-m "not slow"`), where a quick loop matters more than a deep search."""

from __future__ import annotations

import pytest

fast_tier = False  # set by tests/conftest.py before the test files are collected


def examples(full: int) -> int:
    return max(5, full // 5) if fast_tier else full


def deselects_slow(config: pytest.Config) -> bool:
    """Whether `-m` keeps unmarked tests and drops those marked slow (`not slow`, `not slow and not cluster`, ...)."""
    markexpr = config.getoption("markexpr", "") or ""
    if not markexpr:
        return False
    try:
        from _pytest.mark.expression import Expression  # pytest's own reading of -m; private, hence the fallback
    except ImportError:
        return "not slow" in markexpr

    expression = Expression.compile(markexpr)
    return expression.evaluate(lambda name, **_: False) and not expression.evaluate(lambda name, **_: name == "slow")
