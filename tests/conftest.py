"""Shared test helpers: ``require`` for optional tools, and hypothesis profiles.

``require(module_or_tool, reason)`` returns the imported module (or the path of a
command-line tool). When it is missing the test is skipped with the reason, except
in CI (``CI=true``), where a missing optional tool is a broken setup and the test
fails instead, so that CI can never go green by skipping everything.
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
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") == "true" else "dev"))


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


# PyTorch, the test oracle, is pinned to a CPU build that exists for this Python only; CI
# also runs the suite on 3.10 and 3.13, where the oracle's tests skip, CI or not.
ORACLE_PYTHON = (3, 11)


def require(module_or_tool: str, reason: str) -> Any:
    """Import ``module_or_tool`` (or find it on PATH when it is a command such as ``dot``).

    Missing: skip with ``reason`` locally, ``pytest.fail`` in CI.
    """
    if module_or_tool == "torch" and sys.version_info[:2] != ORACLE_PYTHON:
        pytest.skip(f"the PyTorch oracle (torch==2.13.0) is installed on Python "
                    f"{'.'.join(map(str, ORACLE_PYTHON))} only: {reason}")
    try:
        return importlib.import_module(module_or_tool)
    except ImportError as exc:
        found = shutil.which(module_or_tool)
        if found is not None:
            return found
        message = f"{module_or_tool} is not available ({exc}): {reason}"
    if in_ci():
        pytest.fail(f"CI=true but {message}. Install it (see .ci/run).", pytrace=False)
    pytest.skip(message)


@pytest.fixture(name="require")
def require_fixture() -> Any:
    """The ``require`` helper as a fixture: ``def test_x(require): torch = require("torch", "...")``."""
    return require
