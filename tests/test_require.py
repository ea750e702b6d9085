"""The ``require`` helper of conftest.py: skip locally, fail in CI, return what it found."""

from __future__ import annotations

import pytest
from conftest import require

MISSING = "no_such_module_or_tool_3f9a"


def test_require_returns_a_module_or_a_tool_path():
    import json

    assert require("json", "standard library") is json
    assert require("sh", "a shell on PATH").endswith("sh")


def test_require_skips_with_the_reason_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        require(MISSING, "needed to draw graphs")
    assert MISSING in str(info.value) and "needed to draw graphs" in str(info.value)


def test_require_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as info:
        require(MISSING, "needed to draw graphs")
    assert "CI=true" in str(info.value) and "needed to draw graphs" in str(info.value)


def test_require_is_also_a_fixture(require):
    import math

    assert require("math", "standard library") is math
