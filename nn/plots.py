"""Pictures of training, written to files with matplotlib (the `plots` extra; no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
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


def curves(history: Any, path: str, title: str | None = None, eval_label: str = "evaluation data") -> None:
    """Cost (left) and accuracy (right) per epoch, on the training data and on the evaluation data
    (named ``eval_label`` in the legend)."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator, PercentFormatter
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = history["epoch"]
    for axis, column in ((left, "cost"), (right, "accuracy")):
        axis.plot(epochs, history[f"training_{column}"], marker=".", label="training data")
        evaluated = [np.nan if v is None else v for v in history[f"eval_{column}"]]
        if not all(np.isnan(evaluated)):
            axis.plot(epochs, evaluated, marker=".", label=eval_label)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_title(column)
        axis.grid(alpha=0.3)
        axis.legend()
    right.yaxis.set_major_formatter(PercentFormatter(1.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def decision_boundary(model: Any, X: np.ndarray, labels: np.ndarray, path: str, steps: int = 200,
                      title: str = "decision boundary") -> None:
    """The class the model predicts over the plane of a 2-D dataset, with the examples ``X`` on top,
    coloured by their true class."""
    plt = _pyplot()
    margin = 0.5
    (x0, y0), (x1, y1) = X.min(axis=0) - margin, X.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(x0, x1, steps), np.linspace(y0, y1, steps))
    was_training = getattr(model, "training", True)
    model.eval()
    predicted = np.argmax(model(np.c_[gx.ravel(), gy.ravel()]).data, axis=1).reshape(gx.shape)
    model.train(was_training)
    classes = int(max(labels.max(), predicted.max())) + 1
    fig, axis = plt.subplots(figsize=(5.5, 5))
    axis.contourf(gx, gy, predicted, alpha=0.3, cmap="viridis", levels=np.arange(classes + 1) - 0.5)
    points = axis.scatter(X[:, 0], X[:, 1], c=labels, cmap="viridis", vmin=0, vmax=classes - 1,
                          edgecolors="k", s=18)
    handles, _ = points.legend_elements()
    axis.legend(handles, [f"class {c}" for c in range(len(handles))], loc="upper right", fontsize="small")
    axis.set_xlabel("$x_1$")
    axis.set_ylabel("$x_2$")
    axis.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def learning_speed(history: Any, path: str, title: str | None = None) -> None:
    """Mean |δ^l| per epoch for each layer (``train.learning_speed``), on a log scale: Nielsen's picture
    of earlier layers learning more slowly. Layers are named hidden layer 1, 2, ..., then output."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator
    fig, axis = plt.subplots(figsize=(7, 4.5))
    names: Sequence[str] = list(history[0]["speed"])
    for i, name in enumerate(names):
        role = "output layer" if i == len(names) - 1 else f"hidden layer {i + 1}"
        axis.plot(history["epoch"], [row["speed"][name] for row in history], marker=".",
                  label=f"{role} ({name})")
    axis.set_yscale("log")
    axis.set_xlabel("epoch")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_ylabel(r"mean $|\delta^l|$ over the layer's neurons")
    axis.set_title(title or "learning speed of each layer")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
