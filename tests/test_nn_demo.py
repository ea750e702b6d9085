"""The demo runs, trains, and its report shows the engine agreeing with BP1–BP4; docs/nn.md runs."""

import gzip
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import in_ci

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


def _write_idx(path, magic, array):
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_round_trips_a_small_file(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28))
    _write_idx(tmp_path / "images.gz", 2051, images)
    np.testing.assert_array_equal(nn.demo._read_idx(str(tmp_path / "images.gz"), 2051), images)


def test_idx_reader_refuses_a_wrong_magic_number(tmp_path):
    _write_idx(tmp_path / "labels.gz", 2049, np.arange(5))
    with pytest.raises(ValueError, match=r"labels\.gz: IDX magic number 2049, expected 2051"):
        nn.demo._read_idx(str(tmp_path / "labels.gz"), 2051)


def test_idx_reader_refuses_a_truncated_file(tmp_path):
    path = tmp_path / "short.gz"
    with gzip.open(path, "wb") as file:
        file.write((2049).to_bytes(4, "big") + (10).to_bytes(4, "big") + bytes(7))
    with pytest.raises(ValueError, match="promises 10 bytes of data for shape \\(10,\\), the file holds 7"):
        nn.demo._read_idx(str(path), 2049)


def _shared_mnist():
    data = nn.demo.load_mnist()
    if data is None:
        message = f"the MNIST test set is not at {nn.demo.MNIST_DIR} (see ../shared/data/README.md)"
        if in_ci():
            pytest.fail(f"CI=true but {message}", pytrace=False)
        pytest.skip(message)
    return data


def test_shared_mnist_loads_as_documented():
    x, labels = _shared_mnist()
    assert x.shape == (10000, 784) and x.dtype == np.float64
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.99
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))


def test_demo_trains_on_mnist_and_agrees_with_bp1_to_bp4(capsys):
    _shared_mnist()
    report = nn.demo.main(["--epochs", "1"])
    printed = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy ([\d.]+)%", printed).group(1))
    assert accuracy > 85.0, printed          # one epoch reaches about 91% (nn.demo's docstring)
    assert "MNIST" in printed and report.max_difference < 1e-10
