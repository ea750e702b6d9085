"""The demo runs, trains, and its report shows the engine agreeing with BP1–BP4; docs/nn.md runs."""

import os
import re
import subprocess
import sys

import nn.demo

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_demo_main_reports_tiny_differences(capsys):
    report = nn.demo.main(["--synthetic", "--epochs", "2"])
    printed = capsys.readouterr().out
    assert report.max_difference < 1e-12
    assert "epoch 2:" in printed and "engine and reference agree" in printed
    accuracy = float(re.findall(r"test accuracy ([\d.]+)%", printed)[-1])
    assert accuracy > 80


def test_demo_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "nn.demo", "--synthetic", "--epochs", "1"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    difference = float(re.search(r"largest absolute difference (\S+):", result.stdout).group(1))
    assert difference < 1e-12


def test_docs_nn_examples_run():
    text = open(os.path.join(ROOT, "docs", "nn.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 3
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/nn.md", "exec"), namespace)  # noqa: S102
