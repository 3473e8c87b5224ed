"""The lifecycle on the shared test lab (the `cluster` fixture, tests/conftest.py): it runs after the end-to-end tests
and changes the cluster step by step."""

from __future__ import annotations

import pytest

_FAILED_STEP: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        _FAILED_STEP.append(item.name)


@pytest.fixture(autouse=True)
def earlier_steps_passed() -> None:
    """Each step builds on the one before: after a failure the rest cannot mean anything."""
    if _FAILED_STEP:
        pytest.fail(f"not run: the lifecycle step {_FAILED_STEP[0]} failed before it")
