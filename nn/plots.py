"""Pictures of training, written to files with matplotlib (the `plots` extra; no display needed)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError('plots need matplotlib: pip install "autograd-core[plots]"') from None
    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt
    return plt


def curves(history: Any, path: str, title: str | None = None) -> None:
    """Cost (left) and accuracy (right) per epoch, on the training and the evaluation data."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = history["epoch"]
    for axis, column, label in ((left, "cost", "cost"), (right, "accuracy", "accuracy")):
        axis.plot(epochs, history[f"training_{column}"], marker=".", label="training data")
        evaluated = [np.nan if v is None else v for v in history[f"eval_{column}"]]
        if not all(np.isnan(evaluated)):
            axis.plot(epochs, evaluated, marker=".", label="evaluation data")
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def decision_boundary(model: Any, X: np.ndarray, labels: np.ndarray, path: str, steps: int = 200) -> None:
    """The class the model predicts over the plane of a 2-D dataset, with the examples on top."""
    plt = _pyplot()
    margin = 0.5
    (x0, y0), (x1, y1) = X.min(axis=0) - margin, X.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(x0, x1, steps), np.linspace(y0, y1, steps))
    was_training = getattr(model, "training", True)
    model.eval()
    predicted = np.argmax(model(np.c_[gx.ravel(), gy.ravel()]).data, axis=1).reshape(gx.shape)
    model.train(was_training)
    fig, axis = plt.subplots(figsize=(5, 5))
    axis.contourf(gx, gy, predicted, alpha=0.3, cmap="viridis", levels=np.arange(labels.max() + 2) - 0.5)
    axis.scatter(X[:, 0], X[:, 1], c=labels, cmap="viridis", edgecolors="k", s=18)
    axis.set_title("decision boundary")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def learning_speed(history: Any, path: str) -> None:
    """Mean |δ^l| per epoch for each layer (``train.learning_speed``), on a log scale: Nielsen's picture
    of earlier layers learning more slowly."""
    plt = _pyplot()
    fig, axis = plt.subplots(figsize=(6, 4))
    for name in history[0]["speed"]:
        axis.plot(history["epoch"], [row["speed"][name] for row in history], marker=".", label=name)
    axis.set_yscale("log")
    axis.set_xlabel("epoch")
    axis.set_ylabel("mean |delta| of the layer")
    axis.set_title("learning speed of each layer")
    axis.grid(alpha=0.3)
    axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
