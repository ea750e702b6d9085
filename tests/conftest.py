"""Shared test helpers: ``require`` for optional tools, hypothesis profiles, and CI's rule on skips.

``require(module_or_tool, reason)`` returns the imported module (or the path of a
command-line tool). When it is missing the test is skipped with the reason, except
in CI, where a missing optional tool is a broken setup and the test fails instead.

CI is on when the environment variable ``CI`` holds any usual spelling of true (``true``,
``1``, ``yes``, ``on``, any case). In CI every skipped test is reported as a failure,
except the skips listed in ``ALLOWED_CI_SKIPS``, so that CI can never go green by
skipping tests.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Test helper modules (gradient_cases.py) are imported by name from this folder.
sys.path.insert(0, os.path.dirname(__file__))

# "ci": a fixed, moderate budget with no per-example deadline (a 2-core runner under
# xdist is slow and noisy). "dev" is the default locally: fewer examples, same rules.
settings.register_profile(
    "ci", deadline=None, max_examples=60, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow],
)


def in_ci() -> bool:
    """Whether ``CI`` is set to a spelling of true: ``true``, ``True``, ``1``, ``yes``, ``on``..."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "t", "yes", "y", "on"}


settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if in_ci() else "dev"))

# PyTorch, the test oracle, is pinned to a CPU build that exists for this Python only; CI
# also runs the suite on 3.10 and 3.13, where the oracle's tests skip, CI or not.
ORACLE_PYTHON = (3, 11)
ORACLE_ELSEWHERE = (f"the PyTorch oracle (torch==2.13.0) is installed on Python "
                    f"{'.'.join(map(str, ORACLE_PYTHON))} only")

# The skips a CI run accepts, each as (how its reason starts, on which Python versions).
# Any other skip fails in CI. Keep this list short, and say why for each entry.
ALLOWED_CI_SKIPS = (
    # The oracle's tests, on the Python versions CI runs without PyTorch (see ORACLE_PYTHON).
    (ORACLE_ELSEWHERE, lambda python: python != ORACLE_PYTHON),
)


def skip_allowed_in_ci(reason: str, python: tuple[int, int] = sys.version_info[:2]) -> bool:
    """Whether a test skipped with ``reason`` on ``python`` may pass in CI (``ALLOWED_CI_SKIPS``)."""
    reason = reason.removeprefix("Skipped: ")
    return any(reason.startswith(start) and on(python) for start, on in ALLOWED_CI_SKIPS)


def require(module_or_tool: str, reason: str) -> Any:
    """Import ``module_or_tool`` (or find it on PATH when it is a command such as ``dot``).

    Missing: skip with ``reason`` locally, ``pytest.fail`` in CI.
    """
    if module_or_tool == "torch" and sys.version_info[:2] != ORACLE_PYTHON:
        pytest.skip(f"{ORACLE_ELSEWHERE}: {reason}")
    try:
        return importlib.import_module(module_or_tool)
    except ImportError as exc:
        found = shutil.which(module_or_tool)
        if found is not None:
            return found
        message = f"{module_or_tool} is not available ({exc}): {reason}"
    if in_ci():
        pytest.fail(f"CI={os.environ['CI']} but {message}. Install it (see .ci/run).", pytrace=False)
    pytest.skip(message)


@pytest.fixture(name="require")
def require_fixture() -> Any:
    """The ``require`` helper as a fixture: ``def test_x(require): torch = require("torch", "...")``."""
    return require


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI, report a skip as a failure unless ``ALLOWED_CI_SKIPS`` lists it (xfail is not a skip)."""
    outcome = yield
    report = outcome.get_result()
    if not (in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if not skip_allowed_in_ci(reason):
        report.outcome = "failed"
        report.longrepr = (f"CI={os.environ['CI']}: this test was skipped ({reason}), and a skip fails "
                           f"in CI unless ALLOWED_CI_SKIPS in tests/conftest.py lists it.")


def require_shared_mnist() -> str:
    """The folder of the real MNIST test set beside the project (../shared/data/mnist).

    Missing: skip locally, fail in CI, like ``require``.
    """
    from nn import data

    if not os.path.exists(os.path.join(data.SHARED_MNIST, data.TEST_IMAGES)):
        message = f"the MNIST test set is not at {data.SHARED_MNIST} (see ../shared/data/README.md)"
        if in_ci():
            pytest.fail(f"CI=true but {message}", pytrace=False)
        pytest.skip(message)
    return data.SHARED_MNIST

