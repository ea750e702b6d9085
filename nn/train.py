"""``fit``: Nielsen's SGD loop over mini-batches, with a per-epoch history.

Each epoch shuffles the training data with a generator seeded once by ``seed`` (the same
seed gives the same numbers), takes one optimizer step per mini-batch on the cost (plus
Nielsen's L2 term (λ/2n) Σ‖W‖² when ``lmbda`` > 0, n the training-set size), then
measures cost and accuracy on the training data and on ``eval`` in eval mode, as
network2.py's ``monitor_*`` flags do. As in his ``total_cost``, the L2 term of a
measured cost divides by the size of the data measured: n for the training cost, the
number of evaluation examples for the evaluation cost.

Training stops early, with ``history.stopped`` saying why, when a mini-batch's cost is
NaN or infinite (the learning rate is too large: Nielsen's η = 100 diverges), when a
callback returns True, or on Ctrl-C. After a NaN/inf cost and after Ctrl-C the model and
optimizer are put back as they were at the end of the last completed epoch, and
``history.stopped`` says so.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import autograd_core as ac

from . import reference
from .costs import CategoricalCrossEntropy, CrossEntropyCost, QuadraticCost
from .data import minibatches
from .layers import Dense
from .regularization import l2_penalty
from .train_step import TrainStep

COLUMNS = ("epoch", "training_cost", "training_accuracy", "eval_cost", "eval_accuracy", "seconds")


class History(list):
    """One dict per completed epoch (keys ``COLUMNS``; eval entries None without ``eval``).

    ``history["eval_accuracy"]`` is that column as a list; ``stopped`` is None or why training
    stopped early; ``form`` is ``"composed"``, ``"fused"`` or ``"mixed"``: which layers ran fused;
    ``jit`` is True when the mini-batch steps ran as a traced program (``jit_reason`` says why not).
    """

    stopped: str | None = None
    form: str = "composed"
    jit: bool = False                  # were the mini-batch steps replayed by jit?
    jit_reason: str = ""               # if not, why (a JitError's message, or "jit=False")

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return [row[key] for row in self]
        return super().__getitem__(key)


def _form(model: Any, cost: Any) -> str:
    modules = [m for _, m in model.named_modules()] if hasattr(model, "named_modules") else [model]
    flags = [bool(m.fused) for m in [*modules, cost] if hasattr(m, "fused")]
    if flags and all(flags):
        return "fused"
    return "mixed" if any(flags) else "composed"


def targets_for(cost: Any, labels: np.ndarray, outputs: int) -> np.ndarray:
    """What ``cost`` takes as targets: integer labels for categorical costs, one-hot rows otherwise."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or isinstance(cost, CategoricalCrossEntropy):
        return labels
    return np.eye(outputs)[labels]


def evaluate(model: Any, cost: Any, X: np.ndarray, labels: np.ndarray, lmbda: float = 0.0,
             n: int | None = None) -> tuple[float, float]:
    """(cost, accuracy) of ``model`` on ``X`` in eval mode; with ``lmbda`` the cost includes the L2 term
    (λ/2n) Σ‖W‖², n = ``n`` or by default ``len(X)``, as in Nielsen's ``total_cost``."""
    if len(X) == 0:
        return math.nan, math.nan
    was_training = getattr(model, "training", True)
    model.eval()
    try:
        with ac.no_grad():
            out = model(X)
            value = cost(out, targets_for(cost, labels, out.shape[-1]))
            if lmbda:
                value = value + l2_penalty(model, lmbda, n or len(X))
    finally:
        model.train(was_training)
    labels = np.asarray(labels)
    truth = labels if labels.ndim == 1 else np.argmax(labels, axis=1)
    return float(value.item()), float(np.mean(np.argmax(out.data, axis=1) == truth))


def _progress(enabled: bool | None, total: int, epoch: int, epochs: int):
    """A tqdm bar over ``total`` mini-batches when tqdm is installed and the output is a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    try:
        from tqdm import tqdm  # optional: the `progress` extra
    except ImportError:
        return None
    return tqdm(total=total, desc=f"epoch {epoch}/{epochs}", leave=False, unit="batch")


def fit(model: Any, cost: Any, optimizer: Any, train: tuple[np.ndarray, np.ndarray], epochs: int,
        batch_size: int, eval: tuple[np.ndarray, np.ndarray] | None = None, seed: int = 0,
        callbacks: Sequence[Callable[[dict, Any], Any]] = (), lmbda: float = 0.0,
        progress: bool | None = None, jit: bool | None = None) -> History:
    """Train ``model`` for ``epochs`` on ``train = (X, labels)``; returns the ``History``.

    ``labels`` are integers (turned into one-hot rows for costs that need them) or target rows.
    Each callback is called as ``callback(row, model)`` after every epoch; True stops training.
    ``progress``: a tqdm bar per epoch (None: only when stderr is a terminal and tqdm is installed).
    ``jit``: None (the default) replays each mini-batch's forward and backward pass as a program
    traced once (``autograd_core.jit``) when the model allows, else runs eagerly; the numbers are
    the same either way (``history.jit`` says which ran, ``history.jit_reason`` why not). True
    requires it (a model jit cannot trace raises JitError), False runs eagerly.
    """
    X, labels = train
    if epochs <= 0 or batch_size <= 0:
        raise ValueError(f"fit: epochs and batch_size must be positive, got {epochs} and {batch_size}.")
    if len(X) != len(labels):
        raise ValueError(f"fit: {len(X)} training inputs but {len(labels)} labels.")
    n = len(X)
    model.eval()  # a probe for the number of outputs, drawing no dropout mask
    with ac.no_grad():
        outputs = model(X[:1]).shape[-1]
    model.train()
    Y = targets_for(cost, labels, outputs)
    rng = np.random.default_rng(seed)
    history = History()
    history.form = _form(model, cost)
    step = TrainStep(model, cost, lmbda, n, jit)
    parameters = dict(model.named_parameters())
    saved = _snapshot(model, optimizer)
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            bar = _progress(progress, math.ceil(n / batch_size), epoch, epochs)
            total, seen = 0.0, 0
            for xb, yb in minibatches(X, Y, batch_size, rng):
                value, grads = step(xb, yb)
                if not math.isfinite(value):
                    history.stopped = (
                        f"stopped in epoch {epoch}: the cost became {value} after {seen} examples. The "
                        "learning rate is probably too large (Nielsen's eta = 100 diverges): try a "
                        f"smaller one. The model is as after epoch {len(history)}.")
                    warnings.warn(history.stopped, RuntimeWarning, stacklevel=2)
                    _restore(model, optimizer, saved)
                    return history
                for name, parameter in parameters.items():
                    parameter.grad = grads[name]
                optimizer.step()
                total += value * len(xb)
                seen += len(xb)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(cost=f"{total / seen:.4f}")
            if bar is not None:
                bar.close()
            row = dict(zip(COLUMNS, (epoch, *evaluate(model, cost, X, labels, lmbda, n), None, None, 0.0)))
            if eval is not None:
                row["eval_cost"], row["eval_accuracy"] = evaluate(model, cost, *eval, lmbda=lmbda)
            row["seconds"] = time.perf_counter() - start
            history.append(row)
            history.jit, history.jit_reason = step.uses_jit, step.reason
            saved = _snapshot(model, optimizer)
            if any([callback(row, model) for callback in callbacks]):
                history.stopped = f"stopped by a callback after epoch {epoch}"
                break
    except KeyboardInterrupt:
        _restore(model, optimizer, saved)
        history.stopped = f"interrupted; the model is as after epoch {len(history)}"
    return history


def _snapshot(model: Any, optimizer: Any) -> tuple[dict, dict | None]:
    state = optimizer.state_dict() if hasattr(optimizer, "state_dict") else None
    return model.state_dict(), _copy(state)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value.copy() if isinstance(value, np.ndarray) else value


def _restore(model: Any, optimizer: Any, saved: tuple[dict, dict | None]) -> None:
    model.load_state_dict(saved[0])
    if saved[1] is not None:
        optimizer.load_state_dict(saved[1])


def against_reference(model: Any, cost: Any, train: tuple[np.ndarray, np.ndarray], batch_size: int,
                      eta: float, lmbda: float = 0.0, seed: int = 0) -> Callable[[dict, Any], None]:
    """A callback for ``fit`` that trains ``nn.reference.Network`` beside the engine, from the same
    weights on the same mini-batches (it draws them from its own generator seeded like ``fit``'s), and
    stores in each epoch's row ``reference_difference``: the largest |engine − reference| over all
    weights and biases. For a sequence of Dense + Sigmoid layers, plain SGD and Nielsen's two costs."""
    names = {QuadraticCost: "quadratic", CrossEntropyCost: "cross-entropy"}
    if type(cost) not in names or getattr(cost, "from_logits", False):
        raise ValueError("against_reference: nn.reference has the quadratic and the cross-entropy cost "
                         f"on sigmoid outputs only, not {type(cost).__name__}")
    dense = [layer for layer in model if isinstance(layer, Dense)]
    twin = reference.Network([d.W.data for d in dense], [d.b.data for d in dense], cost=names[type(cost)])
    X, labels = train
    Y = targets_for(cost, labels, len(dense[-1].b.data))
    rng = np.random.default_rng(seed)

    def step(row: dict, model: Any) -> None:
        for xb, yb in minibatches(X, Y, batch_size, rng):
            twin.update_mini_batch(xb.T, yb.T, eta, lmbda=lmbda, n=len(X))
        row["reference_difference"] = max(
            max(np.max(np.abs(d.W.data - W)), np.max(np.abs(d.b.data - b)))
            for d, W, b in zip(dense, twin.weights, twin.biases))

    return step


def learning_speed(cost: Any, train: tuple[np.ndarray, np.ndarray],
                   rows: int = 1000) -> Callable[[dict, Any], None]:
    """A callback for ``fit`` that stores in each epoch's row ``speed``: {layer: mean |δ^l|}, Nielsen's
    learning speed of each layer (chapter 5), from the engine's gradients at z^l on the first ``rows``
    training examples. δ is per example (the gradient of the mean cost times the batch size)."""
    X, labels = train[0][:rows], train[1][:rows]

    def measure(row: dict, model: Any) -> None:
        was_training = getattr(model, "training", True)
        model.eval()
        try:
            with model.record_deltas() as deltas:
                out = model(X)
                cost(out, targets_for(cost, labels, out.shape[-1])).backward()
        finally:
            model.zero_grad()
            model.train(was_training)
        row["speed"] = {name: float(np.mean(np.abs(d)) * len(X))
                        for name, d in sorted(deltas.items(), key=lambda item: _path_order(item[0]))}

    return measure


def _path_order(path: str) -> list[Any]:
    """A sort key that puts ``layers.2`` before ``layers.10`` (forward order), not after it."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in path.split(".")]
