"""CI runs what the README tells a new user to run, and fails on a skip or a missing tool.

``.ci/run`` must contain the README's two commands word for word: the main command (the
first fenced block) and the test command (the block after "Run the tests"). conftest.py
reads any usual spelling of a true ``CI`` as CI, and in CI turns every skip that
``ALLOWED_CI_SKIPS`` does not list into a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ORACLE_ELSEWHERE, ORACLE_PYTHON, in_ci, skip_allowed_in_ci
from test_docs import fenced_blocks

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_RUN = (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def readme_command(after: str | None = None) -> str:
    """The one-line command of the README's first fenced block, or of the first after a line
    that starts with ``after``."""
    start = 0
    if after is not None:
        lines = README.splitlines()
        start = next(number for number, line in enumerate(lines, 1) if line.startswith(after))
    block = next(block for block in fenced_blocks(README) if block.line > start)
    commands = [line for line in block.code.splitlines() if line.strip()]
    assert len(commands) == 1, f"README.md, line {block.line}: expected one command, found {commands}"
    return commands[0].strip()


MAIN_COMMAND = readme_command()
TEST_COMMAND = readme_command(after="Run the tests")


def test_the_readme_commands_are_the_expected_ones():
    assert MAIN_COMMAND == ('python -m pip install -e ".[digits,plots,progress,diagrams]" && '
                            "python -m nn train --plot curves.png --graph graph.svg --check-bp")
    assert TEST_COMMAND.startswith("python -m pip install -e \".[dev,oracle]\"") and "pytest" in TEST_COMMAND


def _ci_lines() -> list[str]:
    return [line.strip() for line in CI_RUN.splitlines()]


@pytest.mark.parametrize("command", [MAIN_COMMAND, TEST_COMMAND], ids=["main", "tests"])
def test_ci_runs_the_readme_command_as_written_in_a_fresh_virtual_environment(command):
    lines = _ci_lines()
    assert lines.count(command) == 1, f".ci/run must run the README's command exactly once:\n    {command}"
    before = [line for line in lines[:lines.index(command)] if line and not line.startswith("#")]
    assert re.fullmatch(r'\. "\$\(fresh_venv \w+\)/bin/activate"', before[-1]), (
        f".ci/run must activate a fresh virtual environment right before {command!r}")


def test_ci_runs_the_main_command_before_the_tests_each_in_its_own_environment():
    lines = _ci_lines()
    assert lines.index(MAIN_COMMAND) < lines.index(TEST_COMMAND)
    names = re.findall(r"fresh_venv (\w+)\)/bin/activate", CI_RUN)
    assert len(names) == len(set(names)) == 2


def test_ci_sets_ci_true_whatever_the_caller_set():
    assert "export CI=true" in _ci_lines()
    assert not re.search(r"\bCI=\$\{CI", CI_RUN)


@pytest.mark.parametrize("value", ["true", "True", "TRUE", "1", "yes", "Yes", "on", " true "])
def test_any_spelling_of_true_is_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    assert in_ci()


@pytest.mark.parametrize("value", ["", "0", "false", "False", "no", "off"])
def test_anything_else_is_not_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    assert not in_ci()
    monkeypatch.delenv("CI")
    assert not in_ci()


def test_only_the_oracle_skip_is_allowed_and_only_where_the_oracle_is_not_installed():
    oracle = f"Skipped: {ORACLE_ELSEWHERE}: compare with PyTorch"
    assert skip_allowed_in_ci(oracle, python=(3, 10)) and skip_allowed_in_ci(oracle, python=(3, 13))
    assert not skip_allowed_in_ci(oracle, python=ORACLE_PYTHON)
    assert not skip_allowed_in_ci("Skipped: graphviz is not available", python=(3, 10))
    assert not skip_allowed_in_ci(f"prefix {ORACLE_ELSEWHERE}", python=(3, 10))


SKIPPING_TESTS = f'''
import pytest

def test_passes():
    pass

def test_skips_in_the_body():
    pytest.skip("no reason good enough")

@pytest.mark.skip(reason="marked to skip")
def test_marked_to_skip():
    pass

def test_skips_for_the_oracle():
    pytest.skip({ORACLE_ELSEWHERE!r} + ": an oracle test")

@pytest.mark.xfail(strict=True, reason="a known bug")
def test_expected_to_fail():
    assert False
'''


def _run_pytest(tmp_path: Path, ci: str | None) -> tuple[int, str]:
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text(encoding="utf-8"))
    (tmp_path / "test_skipping.py").write_text(SKIPPING_TESTS)
    env = {key: value for key, value in os.environ.items()
           if key != "CI" and not key.startswith(("PYTEST_", "HYPOTHESIS_"))}
    if ci is not None:
        env["CI"] = ci
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                             "-p", "no:xdist", "test_skipping.py"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


def _outcome(output: str, test: str) -> str | None:
    """The test's line in the -rA summary (a skip's line names the file and line, not the test)."""
    found = re.search(rf"^(PASSED|FAILED|ERROR|XFAIL)\b.*::{test}\b", output, re.MULTILINE)
    return found and found.group(1)


def test_a_skip_fails_in_ci_unless_allowed(tmp_path):
    code, output = _run_pytest(tmp_path, ci="True")
    assert code == 1, output
    assert _outcome(output, "test_passes") == "PASSED"
    assert _outcome(output, "test_skips_in_the_body") == "FAILED"
    assert _outcome(output, "test_marked_to_skip") == "ERROR"          # skipped at setup
    assert _outcome(output, "test_expected_to_fail") == "XFAIL"        # an xfail is not a skip
    assert "unless ALLOWED_CI_SKIPS in tests/conftest.py lists it" in output
    assert "no reason good enough" in output
    if sys.version_info[:2] == ORACLE_PYTHON:   # where the oracle is installed, its skip is a failure
        assert _outcome(output, "test_skips_for_the_oracle") == "FAILED"
    else:
        assert _outcome(output, "test_skips_for_the_oracle") is None and "1 skipped" in output, output


def test_a_skip_is_only_a_skip_outside_ci(tmp_path):
    code, output = _run_pytest(tmp_path, ci=None)
    assert code == 0, output
    assert re.search(r"1 passed, 3 skipped, 1 xfailed", output), output
