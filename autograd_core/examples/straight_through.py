"""The straight-through estimator: a deliberately "wrong" gradient that still trains.

``sign`` and ``round`` have derivative 0 almost everywhere, so backpropagation
through them sends nothing to the layers below. The straight-through estimator
(Bengio et al., 2013; Hinton's lectures) pretends, on the backward pass only, that
the step was the identity (optionally only where |x| ≤ 1, the "clipped" variant):

    forward:  z = sign(x)          backward:  x̄ = g ⊙ 1[|x| ≤ 1]

Backpropagation needs nothing more than *some* rule for every step between the
parameters and the cost; the rule need not be the true derivative. Run
``python -m autograd_core.examples.straight_through`` to watch a network whose
hidden units output only ±1 learn a task that no linear model solves.
"""

from __future__ import annotations

import numpy as np

from autograd_core import Tensor, no_grad
from autograd_core.function import Function, FunctionCtx


class SignSTE(Function):
    """z = sign(x) (with sign(0) = 1);  x̄ = g where |x| ≤ 1, else 0 (clipped straight-through)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.where(x >= 0, 1.0, -1.0).astype(x.dtype)

    @staticmethod
    def backward(ctx: FunctionCtx, g: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved
        return g * (np.abs(x) <= 1)


class RoundSTE(Function):
    """z = round(x);  x̄ = g (the identity: rounding is invisible to the backward pass)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: np.ndarray) -> np.ndarray:
        return np.round(x)

    @staticmethod
    def backward(ctx: FunctionCtx, g: np.ndarray) -> np.ndarray:
        return g


def xor_data(count: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points in [-1, 1]²; the label is 1 where x₁·x₂ > 0 (XOR of the signs), else 0."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(count, 2))
    Y = (X[:, :1] * X[:, 1:] > 0).astype(np.float64)
    return X, Y


def train_binary_network(steps: int = 300, hidden: int = 16, lr: float = 1.0,
                         seed: int = 0) -> list[float]:
    """Train x → sign(x W₁ + b₁) W₂ + b₂ → sigmoid on XOR with the quadratic cost.

    The hidden layer outputs only ±1, so every gradient reaching W₁ passes through
    ``SignSTE``. Returns the cost after each step.
    """
    rng = np.random.default_rng(seed)
    X, Y = xor_data(seed=seed)
    W1 = Tensor(rng.standard_normal((2, hidden)), requires_grad=True)
    b1 = Tensor(np.zeros(hidden), requires_grad=True)
    W2 = Tensor(rng.standard_normal((hidden, 1)) / np.sqrt(hidden), requires_grad=True)
    b2 = Tensor(np.zeros(1), requires_grad=True)
    params = [W1, b1, W2, b2]
    costs = []
    for _ in range(steps):
        hidden_units = SignSTE.apply(Tensor(X) @ W1 + b1)
        prediction = (hidden_units @ W2 + b2).sigmoid()
        cost = ((prediction - Y) ** 2).mean()
        for p in params:
            p.grad = None
        cost.backward()
        with no_grad():
            for p in params:
                p -= lr * p.grad
        costs.append(cost.item())
    return costs


if __name__ == "__main__":
    history = train_binary_network()
    print(f"cost: first step {history[0]:.4f}, last step {history[-1]:.4f}")
