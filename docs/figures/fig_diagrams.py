"""The diagrams of the site: Nielsen's 784-30-10 network on one mini-batch of 10, drawn by
``draw`` (plain, with gradients and BP1–BP4, and with its layers collapsed), and its
backward pass as the step-through page of ``animate_backward``.

The network is written with ``nn`` as a user writes it. Its pixels are random numbers in
[0, 1) and its labels random digits (MNIST is not part of the repository): the graph, not
the data, is what these pictures show.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import nn
from autograd_core import animate_backward, draw

STEP_THROUGH = "step-through.html"


def nielsen_loss(batch: int = 10, seed: int = 0):
    """The quadratic cost of Nielsen's network on one random mini-batch, and the model."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 784))
    y = np.eye(10)[rng.integers(0, 10, size=batch)]
    model = nn.Sequential(nn.Dense(784, 30, seed=seed), nn.Sigmoid(), nn.Dense(30, 10, seed=seed + 1),
                          nn.Sigmoid())
    return nn.QuadraticCost()(model(x), y), model


def make(out_dir: Path) -> list[Path]:
    loss, model = nielsen_loss()    # the model keeps the parameters alive while drawing
    pictures = {
        "diagram-nielsen": draw(loss, title="Nielsen's 784-30-10 network, one mini-batch of 10"),
        "diagram-nielsen-bp": draw(loss, grads=True, bp=True,
                                   title="the same graph with every gradient, δˡ and BP1–BP4 marked"),
        "diagram-nielsen-collapsed": draw(loss, collapse=True, title="each layer collapsed into one box"),
    }
    written = []
    for stem, diagram in pictures.items():
        for fmt in ("svg", "png"):
            path = out_dir / f"{stem}.{fmt}"
            path.write_bytes(diagram.pipe(format=fmt))
            written.append(path)
    written.append(animate_backward(loss, out_dir / STEP_THROUGH,
                                    title="The backward pass of Nielsen's network, step by step"))
    assert all(p.grad is None for p in model.parameters()), "drawing must not change any .grad"
    return written
