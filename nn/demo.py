"""``python -m nn.demo``: train a small sigmoid network with ``nn``, then check it against BP1–BP4.

Uses the MNIST test set from ``../shared/data/mnist`` when present (first 8,000 images
to train, last 2,000 to evaluate); otherwise, or with ``--synthetic``, makes its own
data: Gaussian clusters, one per class. Needs only numpy and runs in a few seconds.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

import numpy as np

import nn
from nn.data import read_idx

MNIST_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared",
                         "data", "mnist")
# `python -m nn train` is the full command (datasets, presets, plots, saving); this demo stays
# for the README's first command: train briefly, then compare with BP1-BP4.


# The IDX reader lives in nn.data now; the demo keeps its name.
_read_idx = read_idx


def load_mnist(directory: str = MNIST_DIR) -> tuple[np.ndarray, np.ndarray] | None:
    """(images as (10000, 784) floats in [0, 1], labels (10000,)), or None when the files are absent."""
    images = os.path.join(directory, "t10k-images-idx3-ubyte.gz")
    labels = os.path.join(directory, "t10k-labels-idx1-ubyte.gz")
    if not (os.path.exists(images) and os.path.exists(labels)):
        return None
    x = _read_idx(images, 2051).reshape(-1, 784).astype(np.float64) / 255.0
    return x, _read_idx(labels, 2049).astype(np.int64)


def synthetic(n: int = 1200, features: int = 16, classes: int = 4, seed: int = 0):
    """Gaussian clusters, one per class, squashed into [0, 1] like pixel intensities."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, features)) * 1.5
    labels = rng.integers(0, classes, n)
    x = 1 / (1 + np.exp(-(centres[labels] + rng.standard_normal((n, features)))))
    return x, labels


def main(argv: Sequence[str] | None = None) -> nn.reference.Report:
    parser = argparse.ArgumentParser(prog="python -m nn.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true",
                        help="use generated data even if MNIST is present")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)

    data = None if args.synthetic else load_mnist()
    if data is None:
        x, labels = synthetic()
        source = "synthetic clusters"
    else:
        x, labels = data
        source = "MNIST test set (8,000 to train, 2,000 to evaluate)"
    split = int(len(x) * 0.8)
    classes = int(labels.max()) + 1
    one_hot = np.eye(classes)[labels]
    x_train, y_train, x_test, labels_test = x[:split], one_hot[:split], x[split:], labels[split:]

    hidden = 30
    model = nn.Sequential(nn.Dense(x.shape[1], hidden, seed=1), nn.Sigmoid(),
                          nn.Dense(hidden, classes, seed=2), nn.Sigmoid())
    cost = nn.CrossEntropyCost()
    opt = nn.SGD(model.parameters(), lr=0.5)
    batch = 10
    rng = np.random.default_rng(0)
    print(f"data: {source}; model: {x.shape[1]}-{hidden}-{classes} sigmoid, cross-entropy, SGD lr=0.5, "
          f"mini-batch {batch}")
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(split)
        total = 0.0
        for first in range(0, split, batch):
            rows = order[first:first + batch]
            loss = cost(model(x_train[rows]), y_train[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(rows)
        model.eval()
        accuracy = np.mean(np.argmax(model(x_test).data, axis=1) == labels_test)
        model.train()
        print(f"epoch {epoch}: mean training cost {total / split:.4f}, test accuracy {accuracy:.1%} "
              f"({time.perf_counter() - start:.2f} s)")

    report = nn.reference.compare(model, x_train[:batch], y_train[:batch], cost)
    print()
    print(report)
    return report


if __name__ == "__main__":
    main()
