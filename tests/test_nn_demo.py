"""python -m nn.demo: a shortcut for `python -m nn train` that trains, then agrees with BP1–BP4."""

import os
import re
import subprocess
import sys

from conftest import require_shared_mnist

import nn.demo

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _differences(printed):
    return [float(d) for d in re.findall(r"largest absolute difference (\S+):", printed)]


def test_demo_prints_and_runs_the_train_command(capsys):
    assert nn.demo.main(["--synthetic", "--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    command = "train --dataset moons --preset nielsen-ch3 --epochs 2 --check-bp"
    assert printed.startswith(f"python -m nn {command}\n")
    assert "epoch 2:" in printed and printed.count("engine and reference agree") == 2
    assert len(_differences(printed)) == 2 and max(_differences(printed)) < 1e-12
    assert float(re.search(r"moons: test accuracy ([\d.]+)%", printed).group(1)) > 70


def test_demo_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "nn.demo", "--synthetic", "--epochs", "1"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert max(_differences(result.stdout)) < 1e-12


def test_docs_nn_examples_run():
    text = open(os.path.join(ROOT, "docs", "nn.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 3
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/nn.md", "exec"), namespace)  # noqa: S102


def test_demo_trains_on_mnist_and_agrees_with_bp1_to_bp4(capsys):
    require_shared_mnist()
    assert nn.demo.main(["--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    accuracy = float(re.search(r"mnist: test accuracy ([\d.]+)%", printed).group(1))
    assert accuracy > 85.0, printed          # one epoch of the chapter-3 settings reaches about 91%
    assert "784-30-10" in printed and max(_differences(printed)) < 1e-10
