"""Scenario 8: the gradient by finite differences, eq. (46) of Nielsen's chapter 2,

    ∂C/∂w_j ≈ (C(w + ε e_j) − C(w)) / ε,

costs one extra cost evaluation per parameter, while backpropagation costs about one
forward and one backward pass whatever the number of parameters.

The network: one sigmoid layer from 10 inputs to P/10 outputs (P weights), batch 10,
quadratic cost C = 1/(2n) Σ‖σ(x Wᵀ) − y‖².
"""

from __future__ import annotations

from typing import Any

import numpy as np

EPSILON = 1e-6


def make_layer(parameters: int, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    outputs = max(1, parameters // 10)
    return {"W": rng.standard_normal((outputs, 10)) / np.sqrt(10),
            "x": rng.random((10, 10)), "y": rng.random((10, outputs))}


def _cost(W: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    a = 1.0 / (1.0 + np.exp(-(x @ W.T)))
    diff = a - y
    return 0.5 * float(np.vdot(diff, diff)) / len(x)


def finite_difference_gradient(problem: dict[str, Any]):
    W, x, y = problem["W"].copy(), problem["x"], problem["y"]

    def run() -> np.ndarray:
        base = _cost(W, x, y)
        grad = np.empty_like(W)
        flat, flat_grad = W.reshape(-1), grad.reshape(-1)
        for j in range(flat.size):
            kept = flat[j]
            flat[j] = kept + EPSILON
            flat_grad[j] = (_cost(W, x, y) - base) / EPSILON
            flat[j] = kept
        return grad

    return run


def numpy_backprop(problem: dict[str, Any]):
    """BP1 and BP4 by hand for the one layer."""
    W, x, y = problem["W"], problem["x"], problem["y"]

    def run() -> np.ndarray:
        a = 1.0 / (1.0 + np.exp(-(x @ W.T)))
        delta = (a - y) * (a * (1.0 - a)) / len(x)
        return delta.T @ x

    return run


def engine_backprop(problem: dict[str, Any]):
    from autograd_core import Tensor

    W = Tensor(problem["W"].copy(), requires_grad=True)
    x, y = Tensor(problem["x"]), Tensor(problem["y"])
    scale = 0.5 / len(problem["x"])

    def run() -> np.ndarray:
        diff = (x @ W.T).sigmoid() - y
        ((diff * diff).sum() * scale).backward()
        grad, W.grad = W.grad, None
        return grad

    return run
